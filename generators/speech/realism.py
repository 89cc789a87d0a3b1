"""Speech motion against real people's: lip gap and jaw opening tracks, mapped onto one head, and how they compare.

A reference here is a person's face measured frame by frame: 68-point landmarks tracked in a talking-face
video (`scripts/track_lips.py`). Its inner-lip gap and jaw opening are taken in units of the person's own
outer eye-corner distance (landmarks 36-45, which speech does not move and which removes the camera's
distance), then multiplied by the same distance on the head the animation is posed on, so both tracks are
centimetres on that head. Ours are the same landmarks of the posed head (`head_tracks`).

Measures (`compare_tracks`): Pearson r at the best lag within +-133 ms (four 30 fps frames; people lead or
trail the sound by about that), the ratio of our p50 and p90 opening to the person's over voiced frames, and
agreement on lips-shut frames.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.errors import AvatarInputError

EYE_CORNERS = (36, 45)
"""Outer eye corners in the 68-point scheme: the scale both tracks are normalised by."""
INNER_LIP_MID = (62, 66)
"""Midline inner lips (upper, lower): the gap."""
CHIN, NOSE_BASE = 8, 33
"""Jaw opening is the chin's distance from the nose base (minus its value at rest)."""
SHUT_CM = 0.25
"""Lips count as shut under this gap on the head (about one pixel of a GRID video's face at 360x288)."""
MAX_LAG_S = 0.133
TRACK_KEYS = ("gap", "jaw", "eye")
RELIABLE_AGREEMENT = 0.8
"""A clip's reference gap is trusted when a second, independent tracker's gap correlates with it at least this
well (`tracker_agreement`). On the shipped clips agreement is bimodal: 0.86-0.99 on 27 clips of 13 speakers,
-0.46 to 0.66 on all ten of one speaker whose inner lips neither tracker finds (`benchmarks/data/realism/README.md`)."""


@dataclass(frozen=True)
class RealClip:
    """One reference clip: a person's measured mouth and the clip's identity.

    Attributes:
        name: clip id (e.g. "s1/bbaf2n").
        speaker: speaker id (held-out decisions are per speaker).
        fps: frame rate of the tracks.
        gap: (T,) inner-lip gap in eye-corner units (landmarks 62-66 / 36-45).
        jaw: (T,) chin-to-nose-base distance in eye-corner units.
        text: transcript (words, silence removed) or "".
        emotion: the emotion the person spoke with, in the toolkit's vocabulary ("anger", "happy", ...; "neutral"
            for an acted neutral take), or "" when the corpus does not say (GRID's read speech).
        intensity: how strongly (0..1) when the corpus says, else NaN (the benchmark picks one).
    """

    name: str
    speaker: str
    fps: float
    gap: np.ndarray
    jaw: np.ndarray
    text: str = ""
    emotion: str = ""
    intensity: float = float("nan")

    def on_head(self, head_eye_cm: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the (T,) gap and (T,) jaw opening in cm on a head whose eye corners are `head_eye_cm` apart."""
        jaw = self.jaw - np.percentile(self.jaw, 5)
        return self.gap * head_eye_cm, jaw * head_eye_cm


def landmark_tracks(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Return per-frame "gap", "jaw" (eye-corner units) and "eye" (pixels) from (T, 68, 2) landmarks."""
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise AvatarInputError(f"landmarks must be (T, 68, 2), got {lm.shape}; use a 68-point (iBUG) tracker")
    eye = np.linalg.norm(lm[:, EYE_CORNERS[0]] - lm[:, EYE_CORNERS[1]], axis=-1)
    gap = np.linalg.norm(lm[:, INNER_LIP_MID[0]] - lm[:, INNER_LIP_MID[1]], axis=-1) / eye
    jaw = np.linalg.norm(lm[:, CHIN] - lm[:, NOSE_BASE], axis=-1) / eye
    return {"gap": gap, "jaw": jaw, "eye": eye}


def head_tracks(weights: np.ndarray, head=None) -> tuple[np.ndarray, np.ndarray, float]:  # noqa: ANN001 - BlendshapeHead
    """Return (T,) gap (cm), (T,) jaw opening (cm, 0 at the neutral) and the eye-corner distance (cm) of the posed head."""
    from avatar.head import default_head

    head = head or default_head()
    lm = head.landmarks68
    if lm is None:
        raise AvatarInputError(f"head {head.name!r} has no 68-point landmarks; realism is measured on them")
    w = np.atleast_2d(np.asarray(weights, np.float64))

    def point(i: int) -> np.ndarray:
        return head.neutral[int(lm[i])].astype(np.float64)[None] + w @ head.deltas[:, int(lm[i])].astype(np.float64)

    gap = np.linalg.norm(point(INNER_LIP_MID[0]) - point(INNER_LIP_MID[1]), axis=-1)
    jaw = np.linalg.norm(point(CHIN) - point(NOSE_BASE), axis=-1)
    jaw0 = float(np.linalg.norm(head.neutral[int(lm[CHIN])] - head.neutral[int(lm[NOSE_BASE])]))
    eye = float(np.linalg.norm(head.neutral[int(lm[EYE_CORNERS[0]])] - head.neutral[int(lm[EYE_CORNERS[1]])]))
    return gap, jaw - jaw0, eye


def resample_track(values: np.ndarray, fps: float, n_frames: int, target_fps: float) -> np.ndarray:
    """Return `values` (T,) at `fps` linearly resampled to `n_frames` frames at `target_fps`."""
    t_src = np.arange(len(values)) / fps
    return np.interp(np.arange(n_frames) / target_fps, t_src, np.asarray(values, np.float64))


def best_lag_r(ours: np.ndarray, ref: np.ndarray, fps: float, max_lag_s: float = MAX_LAG_S) -> tuple[float, float]:
    """Return (Pearson r, lag in s) at the lag within +-`max_lag_s` that correlates best (positive: ours later)."""
    n = min(len(ours), len(ref))
    a, b = np.asarray(ours[:n], np.float64), np.asarray(ref[:n], np.float64)
    best = (-2.0, 0.0)
    k_max = int(round(max_lag_s * fps))
    for k in range(-k_max, k_max + 1):
        x, y = (a[k:], b[:n - k]) if k >= 0 else (a[:n + k], b[-k:])
        if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        if r > best[0]:
            best = (r, k / fps)
    return (float("nan"), 0.0) if best[0] < -1.5 else best


@dataclass(frozen=True)
class TrackComparison:
    """How one animated track compares with a person's (see `compare_tracks`)."""

    r: float
    lag_s: float
    p50_ratio: float
    p90_ratio: float
    shut_agreement: float
    rest_ours_cm: float
    rest_ref_cm: float


def compare_tracks(ours: np.ndarray, ref: np.ndarray, fps: float, voiced: np.ndarray | None = None,
                   shut_cm: float | None = SHUT_CM) -> TrackComparison:
    """Return r at the best lag, p50/p90 ratios (ours / person's, over `voiced` frames) and lips-shut agreement.

    `rest_*_cm` is each track's median over the frames outside `voiced` (the pauses); with `shut_cm` None the
    agreement is not computed (jaw tracks).
    """
    n = min(len(ours), len(ref))
    ours, ref = np.asarray(ours[:n], np.float64), np.asarray(ref[:n], np.float64)
    voiced = np.ones(n, bool) if voiced is None else np.asarray(voiced[:n], bool)
    if voiced.sum() < 3:
        voiced = np.ones(n, bool)
    r, lag = best_lag_r(ours, ref, fps)
    o, p = ours[voiced], ref[voiced]
    eps = 1e-6
    p50 = float(np.percentile(o, 50) / max(np.percentile(p, 50), eps))
    p90 = float(np.percentile(o, 90) / max(np.percentile(p, 90), eps))
    agree = float(np.mean((ours < shut_cm) == (ref < shut_cm))) if shut_cm is not None else float("nan")
    rest = ~voiced
    rest_o = float(np.median(ours[rest])) if rest.any() else float("nan")
    rest_p = float(np.median(ref[rest])) if rest.any() else float("nan")
    return TrackComparison(r, lag, p50, p90, agree, rest_o, rest_p)


def rms_envelope(samples: np.ndarray, sample_rate: int, n_frames: int, fps: float, smooth_s: float = 0.04) -> np.ndarray:
    """Return the (T,) smoothed RMS envelope of the audio at `fps`: the loudness-only baseline a mouth must beat."""
    from generators.speech.smoothing import gaussian_filter1d

    hop = int(sample_rate * 0.01)
    win = int(sample_rate * 0.025)
    x = np.asarray(samples, np.float64)
    n = max(1, (len(x) - win) // hop + 1)
    rms = np.array([np.sqrt(np.mean(x[i * hop:i * hop + win] ** 2)) for i in range(n)])
    rms = gaussian_filter1d(rms, smooth_s / 0.01, mode="nearest")
    t = (np.arange(n) * hop + win / 2) / sample_rate
    return np.interp(np.arange(n_frames) / fps, t, rms)


def tracker_agreement(gap: np.ndarray, other: np.ndarray) -> float:
    """Return Pearson r between two trackers' (T,) gap tracks of one clip over the frames both measured (NaN if
    fewer than 10): how far the reference can be trusted, whatever an animation does."""
    n = min(len(gap), len(other))
    a, b = np.asarray(gap[:n], np.float64), np.asarray(other[:n], np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10 or a[ok].std() < 1e-9 or b[ok].std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def clip_audio(clip: RealClip, folders: list[str | os.PathLike]) -> Path | None:
    """Return the first <folder>/<clip id>.wav or .flac that exists for `clip` (its id: the name's last part), else None."""
    stem = clip.name.split("/")[-1]
    return next((Path(d) / f"{stem}{ext}" for d in folders for ext in (".wav", ".flac") if (Path(d) / f"{stem}{ext}").is_file()),
                None)


def save_clips(path: str | os.PathLike, clips: list[RealClip]) -> None:
    """Write `clips` to one .npz (atomically: a temp file, then rename)."""
    arrays: dict[str, np.ndarray] = {}
    for c in clips:
        arrays[f"{c.name}|gap"] = c.gap.astype(np.float32)
        arrays[f"{c.name}|jaw"] = c.jaw.astype(np.float32)
        meta = [c.speaker, str(c.fps), c.text]
        if c.emotion:  # files of clips without an emotion keep the three fields older readers expect
            meta += [c.emotion, str(c.intensity)]
        arrays[f"{c.name}|meta"] = np.array(meta)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def load_clips(path: str | os.PathLike) -> list[RealClip]:
    """Return the clips of a tracks .npz written by `save_clips`, in name order."""
    path = Path(path)
    if not path.is_file():
        raise AvatarInputError(f"no tracks file at {path}; run scripts/track_lips.py on a folder of clips first")
    try:
        data = np.load(path)
        names = sorted({k.split("|")[0] for k in data.files})
        out = []
        for n in names:
            speaker, fps, text, *emo = (str(v) for v in data[f"{n}|meta"])
            emotion, intensity = emo if len(emo) == 2 else ("", "nan")
            out.append(RealClip(n, speaker, float(fps), data[f"{n}|gap"].astype(np.float64),
                                data[f"{n}|jaw"].astype(np.float64), text, emotion, float(intensity)))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise AvatarInputError(f"{path} is not a lip-tracks file ({exc}); write it with scripts/track_lips.py") from exc
    return out


def measure_clip(clip: RealClip, wav: str | os.PathLike, method: str, fps: float = 30.0, model=None,  # noqa: ANN001
                 emotion: str = "neutral", intensity: float = 1.0, condition: str = "clean",
                 voices: list[np.ndarray] | None = None) -> dict:
    """Return {"gap", "jaw": TrackComparison, "rms_r", "p50_ref_cm", "p90_ref_cm", "p50_ours_cm", "p90_ours_cm"}:
    `method` ("hybrid", "neural", "phonetic", or "hybrid+text" / "phonetic+text" with the clip's transcript, or
    "stream": the causal `StreamingAnimator` fed 20 ms chunks) animating `wav` with `emotion` at `intensity` (as
    `animate --emotion --intensity` would) against the person's tracks, with the RMS baseline's r.

    Both are posed on the shipped head; speech frames are those with voice activity > 0.5 in the clean recording
    (the p50/p90 are taken over them). `model` (a speech checkpoint folder or `SpeechToARKit`; default the shipped
    one) drives the "neural" and "hybrid" methods. `condition` ("pink10", "reverb50", ...: `noise.degrade`, seeded by
    the clip's name; "babble" mixes `voices`) is what both our animation and the RMS baseline hear instead of the clean
    recording, as a camera take would give it.
    """
    import zlib

    from avatar.head import default_head
    from generators.speech.audio import Audio, load_audio
    from generators.speech.noise import degrade
    from generators.speech.talking import animate, frame_activity

    clean = load_audio(str(wav))
    audio = clean
    if condition != "clean":
        rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
        audio = Audio(degrade(clean.samples, clean.sample_rate, condition, rng, voices), clean.sample_rate)
    if method == "stream":
        weights = stream_weights(audio.samples, audio.sample_rate, fps, model=model, emotion=emotion, intensity=intensity)
    else:
        text = clip.text if method.endswith("+text") else None
        weights = animate(audio, text=text, method=method.split("+")[0], fps=fps, life=False, model=model,
                          emotion=emotion, intensity=intensity).weights
    n = weights.shape[0]
    head = default_head()
    gap, jaw, eye_cm = head_tracks(weights, head)
    ref_gap, ref_jaw = clip.on_head(eye_cm)
    ref_gap = resample_track(ref_gap, clip.fps, n, fps)
    ref_jaw = resample_track(ref_jaw, clip.fps, n, fps)
    voiced = frame_activity(clean, n, fps) > 0.5
    g = compare_tracks(gap, ref_gap, fps, voiced)
    j = compare_tracks(jaw, ref_jaw, fps, voiced, shut_cm=None)
    env = rms_envelope(audio.samples, audio.sample_rate, n, fps)
    e = compare_tracks(env, ref_gap, fps, voiced, shut_cm=None)
    def pct(x: np.ndarray, q: float) -> float:
        return float(np.percentile(x[voiced], q)) if voiced.any() else float("nan")

    return {"gap": g, "jaw": j, "rms_r": e.r, "p50_ref_cm": pct(ref_gap, 50), "p90_ref_cm": pct(ref_gap, 90),
            "p50_ours_cm": pct(gap, 50), "p90_ours_cm": pct(gap, 90)}


def stream_weights(samples: np.ndarray, sample_rate: int, fps: float = 30.0, *, chunk_s: float = 0.02, model=None,  # noqa: ANN001
                   emotion: str = "neutral", intensity: float | str = 1.0) -> np.ndarray:
    """Return the (T, 52) weights the causal `StreamingAnimator` (life off) gives for `samples` pushed in `chunk_s` chunks."""
    from generators.speech.streaming import StreamingAnimator

    anim = StreamingAnimator(model, fps=fps, emotion=emotion, intensity=intensity, life=False, sample_rate=sample_rate)
    step = max(1, int(round(chunk_s * sample_rate)))
    frames = []
    for i in range(0, len(samples), step):
        frames += anim.push(samples[i:i + step])
    frames += anim.flush()
    return np.stack([f.weights for f in frames]).astype(np.float32)


GRID_SILENCE = frozenset({"sil", "sp"})


def read_grid_align(path: str | os.PathLike) -> tuple[str, list[tuple[float, float, str]]]:
    """Return (transcript, [(start s, end s, word)]) from a GRID .align file (times in 1/25,000 s)."""
    words = []
    for line in Path(path).read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3:
            words.append((int(parts[0]) / 25000.0, int(parts[1]) / 25000.0, parts[2]))
    return " ".join(w for _, _, w in words if w not in GRID_SILENCE), words


_GRID_WORDS = (
    {"b": "bin", "l": "lay", "p": "place", "s": "set"},
    {"b": "blue", "g": "green", "r": "red", "w": "white"},
    {"a": "at", "b": "by", "i": "in", "w": "with"},
    None,  # the letter says itself
    {"z": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
     "8": "eight", "9": "nine"},
    {"a": "again", "n": "now", "p": "please", "s": "soon"},
)


def grid_id_transcript(clip_id: str) -> str:
    """Return the sentence a GRID clip id spells ("bbaf2n" -> "bin blue at f two now"), or "" if it is not one.

    GRID names each clip by the first character of its six words (command, colour, preposition, letter,
    digit, adverb), so a clip without its .align still has its transcript.
    """
    cid = clip_id.lower()
    if len(cid) != 6:
        return ""
    words = []
    for ch, table in zip(cid, _GRID_WORDS):
        if table is None:
            if not ch.isalpha():
                return ""
            words.append(ch)
        elif ch in table:
            words.append(table[ch])
        else:
            return ""
    return " ".join(words)


VIDEO_SUFFIXES = (".mpg", ".flv", ".mp4", ".webm")
"""Talking-face videos the tracker reads: GRID's MPEG-1, CREMA-D's Flash video, MP4 and WebM (GRID clips as demo pages
re-encode them)."""


def grid_clip_files(folder: str | os.PathLike) -> list[Path]:
    """Return the talking-face videos (GRID *.mpg, CREMA-D *.flv, *.mp4, *.webm) of `folder`, sorted by name; one-line error
    naming the fix when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AvatarInputError(f"{folder} is not a folder; name the folder that holds the GRID clips (<id>.mpg + <id>.align)")
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise AvatarInputError(f"{folder} holds no GRID clips or other talking-face videos (*.mpg with their *.align, "
                               "*.flv, *.mp4, *.webm); name the folder of one speaker's clips")
    return clips


CREMAD_SENTENCES = {
    "IEO": "it's eleven o'clock", "TIE": "that is exactly what happened", "IOM": "i'm on my way to the meeting",
    "IWW": "i wonder what this is about", "TAI": "the airplane is almost full", "MTI": "maybe tomorrow it will be cold",
    "IWL": "i would like a new alarm clock", "ITH": "i think i have a doctor's appointment", "DFA": "don't forget a jacket",
    "ITS": "i think i've seen this before", "TSI": "the surface is slick", "WSI": "we'll stop in a couple of minutes",
}
"""CREMA-D's twelve sentences by the code in its file names (the corpus README)."""
CREMAD_EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
"""CREMA-D's emotion codes in the toolkit's vocabulary."""
CREMAD_LEVELS = {"LO": 0.2, "MD": 0.5, "HI": 0.8, "XX": float("nan")}
"""CREMA-D's emotion levels as 0..1: its own numeric display values (20, 50, 80 of 100); XX is unspecified."""


def cremad_id_info(clip_id: str) -> tuple[str, str, float] | None:
    """Return (transcript, emotion, intensity) that a CREMA-D clip id spells ("1001_DFA_ANG_XX" -> ("don't forget
    a jacket", "anger", nan)), or None if it is not one.

    CREMA-D names each clip <actor>_<sentence>_<emotion>_<level>; an unspecified level (XX) is NaN.
    """
    parts = clip_id.split("_")
    if len(parts) != 4 or not (parts[0].isdigit() and len(parts[0]) == 4):
        return None
    _, sent, emo, level = (p.upper() for p in parts)
    if sent not in CREMAD_SENTENCES or emo not in CREMAD_EMOTIONS or level not in CREMAD_LEVELS:
        return None
    return CREMAD_SENTENCES[sent], CREMAD_EMOTIONS[emo], CREMAD_LEVELS[level]
