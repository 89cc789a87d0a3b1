"""emoavatar renderers."""
