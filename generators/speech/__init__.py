"""Speech-driven emotional animation on the ARKit rig.

    from generators.speech import animate
    seq = animate("hello.wav", text="hello there", emotion="happy", intensity=0.7)

Parts, one concern per module: `audio` (loading, checks, voice activity), `phonetic` (pocketsphinx
alignment), `visemes` (phones -> coarticulated mouth curves, lip closure), `emotion_layer` (speech +
emotion composition), `life` (blinks, gaze, head motion), `neural` (audio -> ARKit model), and
`talking` (the pipeline behind `animate`). librosa/soundfile/pocketsphinx/torch load only when used.
"""

from __future__ import annotations

from generators.speech.talking import METHODS, animate

__all__ = ["METHODS", "animate"]
