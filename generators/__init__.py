"""emoavatar generators."""
