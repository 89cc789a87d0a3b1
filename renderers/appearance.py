"""Re-exports the head's appearance (moved to `avatar.appearance`, where the glTF export reads it too)."""

from avatar.appearance import EYE_COLOURS, HIDDEN_MATERIALS, SKIN_TONES, Appearance, drawn_faces, paint_head

__all__ = ["EYE_COLOURS", "HIDDEN_MATERIALS", "SKIN_TONES", "Appearance", "drawn_faces", "paint_head"]
