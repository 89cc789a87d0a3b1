"""File formats and safe writing for emoavatar's data (NPZ, JSON, Live Link Face CSV, glTF)."""
