"""Returns checked uploads: the playground's size and duration limits, in one place, with one-line messages."""

from __future__ import annotations

import os
from pathlib import Path

from avatar.errors import AvatarInputError

MAX_UPLOAD_MB = 20
"""Largest upload accepted, in MB (the browser is told too, via `launch(max_file_size=...)`)."""

MAX_AUDIO_SECONDS = 60.0
"""Longest speech clip the Speech tab animates (a 60 s clip renders 1800 frames)."""

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".webm", ".m4a")
"""File types the Speech tab accepts (what the toolkit's audio reader opens, plus browser recordings)."""

MAX_TRANSCRIPT_CHARS = 2000
"""Longest transcript accepted (about a minute and a half of speech)."""


def check_audio_upload(path: str | os.PathLike | None) -> float | None:
    """Return the clip's duration in seconds when its header states it (None when only decoding can tell).

    Raises AvatarInputError (one line, naming the file by its own name, never the server's temp
    path) for a missing upload, a wrong file type, a file over `MAX_UPLOAD_MB`, an unreadable file,
    or a clip longer than `MAX_AUDIO_SECONDS`.
    """
    if path is None or not str(path):
        raise AvatarInputError("no audio: upload a speech clip (WAV, FLAC, OGG or MP3) or record one first")
    p = Path(path)
    name = p.name
    if not p.is_file():
        raise AvatarInputError(f"the upload {name!r} did not arrive: upload it again")
    if p.suffix.lower() not in AUDIO_SUFFIXES:
        raise AvatarInputError(f"{name!r} is not an audio file: upload a WAV, FLAC, OGG or MP3 clip")
    size_mb = p.stat().st_size / 1e6
    if size_mb > MAX_UPLOAD_MB:
        raise AvatarInputError(f"{name!r} is {size_mb:.1f} MB, over the {MAX_UPLOAD_MB} MB limit: upload a shorter clip")
    if p.stat().st_size == 0:
        raise AvatarInputError(f"{name!r} is empty: upload a clip with speech in it")
    try:
        import soundfile
    except ImportError:  # the speech extra is missing: animate() says how to install it
        return None
    try:
        info = soundfile.info(str(p))
    except Exception:  # libsndfile raises several types; formats it cannot read (webm, m4a) are decoded later
        if p.suffix.lower() in (".wav", ".flac", ".ogg"):
            raise AvatarInputError(f"{name!r} is not a readable {p.suffix.lower()[1:].upper()} file: upload a real audio clip") from None
        return None
    seconds = float(info.frames) / float(info.samplerate) if info.samplerate else 0.0
    if seconds > MAX_AUDIO_SECONDS:
        raise AvatarInputError(f"{name!r} is {seconds:.1f} s long, over the {MAX_AUDIO_SECONDS:.0f} s limit: upload a shorter clip")
    return seconds


def check_transcript(text: str | None) -> str | None:
    """Return the transcript stripped (None when empty); raise AvatarInputError when it is too long."""
    text = (text or "").strip()
    if len(text) > MAX_TRANSCRIPT_CHARS:
        raise AvatarInputError(f"the transcript has {len(text)} characters, over the {MAX_TRANSCRIPT_CHARS} limit")
    return text or None
