"""Returns audio chunks from a microphone (sounddevice / PortAudio), or a one-line error saying why there is none.

PortAudio calls back on its own thread with each block; the blocks go through a bounded queue to the
caller's loop, so a slow consumer drops the oldest audio (and says so once) rather than growing memory
or falling ever further behind the speaker.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import numpy as np

from avatar.errors import SetupError

NO_MICROPHONE_HINT = ("or pipe raw PCM instead: arecord -f S16_LE -r 16000 -c 1 -t raw | emoavatar stream - --rate 16000")


def _sounddevice() -> Any:
    """Return the sounddevice module; raise SetupError (one line) when it or PortAudio is missing."""
    try:
        import sounddevice
    except ImportError:
        raise SetupError('the microphone needs sounddevice: pip install "emoavatar[live]"; ' + NO_MICROPHONE_HINT) from None
    except OSError as e:  # sounddevice raises OSError when the PortAudio library itself is missing
        raise SetupError(f"the microphone needs PortAudio ({' '.join(str(e).split())}): apt-get install libportaudio2; "
                         + NO_MICROPHONE_HINT) from None
    return sounddevice


def find_microphone(device: str | int | None = None) -> tuple[Any, int, str]:
    """Return (sounddevice module, input device index, its name) of `device` (None: the default input).

    Raises SetupError (one line) when PortAudio sees no input device or not the one named.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
    except Exception as e:  # PortAudioError when the host API cannot start
        raise SetupError(f"no microphone: PortAudio cannot list audio devices ({' '.join(str(e).split())}); {NO_MICROPHONE_HINT}") from None
    inputs = [(i, d) for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]
    if not inputs:
        raise SetupError(f"no microphone found: PortAudio sees no input device on this machine; {NO_MICROPHONE_HINT}")
    if device is None:
        try:
            index = int(sd.query_devices(kind="input")["index"])
        except Exception:
            index = inputs[0][0]
    else:
        key = str(device)
        match = [i for i, d in inputs if key == str(i) or key.lower() in d["name"].lower()]
        if not match:
            names = ", ".join(f"{i}: {d['name']}" for i, d in inputs)
            raise SetupError(f"no microphone named {key!r}; the inputs are {names}")
        index = match[0]
    return sd, index, str(devices[index]["name"])


def microphone_chunks(rate: int, chunk_s: float, device: str | int | None = None, max_queued_s: float = 2.0,
                      log: Any = None) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (float32 mono samples, rate) chunks of `chunk_s` seconds from the microphone until the caller stops.

    Raises SetupError (one line) when there is no microphone (see `find_microphone`).
    """
    sd, index, name = find_microphone(device)
    block = max(1, int(round(chunk_s * rate)))
    chunks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(2, int(max_queued_s / chunk_s)))
    dropped = [0]

    def on_audio(data: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        try:
            chunks.put_nowait(data[:, 0].copy())
        except queue.Full:
            dropped[0] += 1
            if dropped[0] == 1 and log is not None:
                log("emoavatar: warning: the animation falls behind the microphone; dropping audio")

    if log is not None:
        log(f"emoavatar: listening on {name!r} at {rate} Hz")
    with sd.InputStream(device=index, channels=1, samplerate=rate, blocksize=block, dtype="float32", callback=on_audio):
        while True:
            yield chunks.get(), rate
