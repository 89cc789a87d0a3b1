"""emoavatar recognizers."""
