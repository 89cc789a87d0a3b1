"""Speech audio (+ transcript, emotion) -> a talking-face `ExpressionSequence`: the speech generator's pipeline.

audio -> 16 kHz mono (audio.py) -> voice activity -> mouth curves from phones (phonetic.py + visemes.py) or
from the neural model (neural.py) -> composed with low-frequency emotion (emotion_layer.py), bilabials
enforced -> blinks, gaze, head motion (life.py).
"""

from __future__ import annotations

import math
import os
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.constants import DEFAULT_FPS
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES, index_of
from avatar.sequence import ExpressionSequence
from avatar.validation import check_choice, check_fps, check_range, check_seed, check_unit
from generators.speech.audio import (MAX_SECONDS, MIN_SPEECH_S, MOSTLY_SILENT_SHARE, SILENCE_DBFS, Audio, AudioFeatures,
                                     NoSpeechWarning, SilenceWarning, analyse_audio)

if TYPE_CHECKING:
    from avatar.head import BlendshapeHead

METHODS = ("phonetic", "neural", "hybrid", "auto")


def _check_args(fps: float, seed: int, method: str, intensity: float | str, articulation: float) -> float:
    """Return `fps` as a float after checking every argument of `animate` (one-line errors)."""
    check_seed(seed)
    check_choice(method, METHODS, "method")
    if isinstance(intensity, str):
        if intensity != "auto":
            raise AvatarInputError(f"intensity must be a number in 0..1 or 'auto', got {intensity!r}")
    else:
        check_unit(intensity, "intensity")
    check_range(articulation, "articulation", 0.0, 2.0)
    if not float(articulation) > 0.0:
        raise AvatarInputError(f"articulation must be in (0, 2], got {articulation!r}")
    return check_fps(fps)


def resolve_method(method: str, text: str | None) -> str:
    """Return "phonetic", "neural" or "hybrid": the lip-sync path `animate(method=..., text=...)` takes.

    "auto" takes "hybrid" when both pocketsphinx and the model are there: the model's mouth (trained on real
    people's lips) with closures from the aligned transcript when text is given, else from the model and the
    decoded phones; else whichever of the two is installed ("phonetic" also when only pocketsphinx is).
    """
    if method != "auto":
        return method
    from generators.speech.shipped import weights_available

    try:
        import pocketsphinx  # noqa: F401

        have_ps = True
    except ImportError:
        have_ps = False
    if have_ps and weights_available():
        return "hybrid"
    if have_ps:
        return "phonetic"
    if weights_available():
        return "neural"
    return "phonetic"  # raises the install hint


def _features(audio: Audio | AudioFeatures) -> AudioFeatures:
    return audio if isinstance(audio, AudioFeatures) else analyse_audio(audio, silence_dbfs=-np.inf)


def frame_activity(audio: Audio | AudioFeatures, n_frames: int, fps: float) -> np.ndarray:
    """Return (T,) float32 voice activity in [0, 1] at `fps`, softened over ~50 ms so the mouth eases shut."""
    from generators.speech.smoothing import gaussian_filter1d

    feats = _features(audio)
    vad = feats.activity.astype(np.float64)
    t = np.arange(n_frames) / fps
    act = np.interp(t, np.arange(len(vad)) * feats.hop_s + 0.5 * feats.hop_s, vad)
    return np.clip(gaussian_filter1d(act, max(0.05 * fps, 1e-3), mode="nearest"), 0, 1).astype(np.float32)


def speech_gate(activity: np.ndarray, fps: float, lead_s: float = 0.0) -> np.ndarray:
    """Return the (T,) float32 gate on speech's mouth: the voice activity, opened up to `lead_s` before each onset.

    People part their lips before they speak (an in-breath, the first vowel's set-up: on GRID's talkers the
    lips start to open 0.2-0.5 s before the voice, in about two clips of three); a model fine-tuned on real
    tracks with such a gate learned when (`SpeechToARKit.anticipation_s`). The lead ramps down linearly: with
    `K = round(lead_s * fps)`, a frame `k <= K` frames before an onset passes `1 - k / (K + 1)` of the model's mouth.
    """
    act = np.asarray(activity, np.float32)
    k_max = int(round(float(lead_s) * fps))
    if k_max < 1:
        return act.copy()
    gate = act.copy()
    for k in range(1, k_max + 1):
        gate[:-k] = np.maximum(gate[:-k], act[k:] * (1.0 - k / (k_max + 1)))
    return gate


def model_anticipation(method: str, model: Any = None) -> float:
    """Return the speech model's `anticipation_s` when `method` runs it ("neural", "hybrid"), else 0."""
    if method not in ("neural", "hybrid"):
        return 0.0
    from generators.speech.net_numpy import as_numpy_model

    return float(as_numpy_model(model).config.get("anticipation_s", 0.0))


def loudness_gain(audio: Audio | AudioFeatures, n_frames: int, fps: float, depth: float = 0.35) -> np.ndarray:
    """Return (T,) jaw gain around 1: louder syllables open wider, by up to ±`depth`/2."""
    feats = _features(audio)
    db = feats.rms_db
    t = np.arange(n_frames) / fps
    e = np.interp(t, np.arange(len(db)) * feats.hop_s, db)
    hi = float(np.percentile(db, 95))
    norm = np.clip((e - (hi - 30.0)) / 30.0, 0.0, 1.0)  # 0 at 30 dB under the loud syllables, 1 at them
    return (1.0 - depth / 2 + depth * norm).astype(np.float32)


def speech_curves(
    audio: Audio | AudioFeatures, n_frames: int, fps: float, method: str, text: str | None, articulation: float = 1.0,
    model: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return speech mouth weights (T, 52), the (T,) bool bilabial-closure mask and the (T,) bool f/v tuck mask for one method.

    The masks already carry the closure margins (`visemes.closure_intervals`): shut from before the
    acoustic closure to after its aligned end, at least two 30 fps frames long. `audio` may be the clip's
    `AudioFeatures` (what `animate` has), whose SNR estimate tells `hybrid` how far to trust its closures.
    """
    feats = audio if isinstance(audio, AudioFeatures) else None
    audio = feats.audio if feats is not None else audio
    if method == "phonetic":
        from generators.speech.phonetic import phones_from_audio
        from generators.speech.visemes import bilabial_frames, labiodental_frames, speech_weights

        phones = phones_from_audio(audio, text)
        return (speech_weights(phones, fps, n_frames, articulation=articulation), bilabial_frames(phones, fps, n_frames),
                labiodental_frames(phones, fps, n_frames))
    # The model runs in numpy (its one inference definition), without importing torch and diffusers (3-6 s, far
    # more than the model's own time on a clip); a SpeechToARKit passed in runs its weights the same way.
    from generators.speech.net_numpy import as_numpy_model

    net = as_numpy_model(model)
    if method == "hybrid":
        # The model's mouth. Without a transcript, closures from its flag and the decoded phones, tucks from the
        # phones (`closure.hybrid_closure`): each finds bilabials the other misses (the decoder on natural
        # voices, the model on formant synthesis). With one that aligns, the aligned p/b/m and
        # f/v only (`closure.transcript_closure`): they are right, and every extra closure shuts lips a person
        # keeps open. A transcript that does not align falls back to the audio-only merge.
        from generators.speech.closure import hybrid_closure, transcript_closure
        from generators.speech.phonetic import aligned_phones

        w, logit = net.predict_logits(audio, fps=fps, n_frames=n_frames)
        phones, aligned = aligned_phones(audio, text)
        if aligned:
            shut, tuck = transcript_closure(phones, fps, n_frames)
        else:
            shut, tuck = hybrid_closure(logit, phones, fps, snr_db=_features(feats or audio).snr_db)
        return np.clip(w * articulation, 0.0, 1.0), shut, tuck
    w, shut = net.predict(audio, fps=fps, n_frames=n_frames)
    # The shipped model learned closure flags that already carry the margins (its labels come from
    # `bilabial_frames`): widening them again (`widen_closure`) shut twice the vowels for no more closures.
    shut, tuck = np.asarray(shut, bool), np.zeros(n_frames, bool)
    return np.clip(w * articulation, 0.0, 1.0), shut, tuck


def widen_closure(shut: np.ndarray, fps: float) -> np.ndarray:
    """Return a (T,) bool closure mask whose runs (a model's predicted bilabials) get the phonetic path's margins.

    For a model trained on closure labels without margins (the shipped one has them built in).

    Each predicted run is treated as one bilabial phone: `visemes.CLOSURE_LEAD_S` earlier, `CLOSURE_TAIL_S`
    later, at least `CLOSURE_MIN_S` long.
    """
    from generators.speech.phonetic import Phone
    from generators.speech.visemes import closure_intervals, interval_frames

    shut = np.asarray(shut, bool)
    if not shut.any():
        return shut.copy()
    edges = np.flatnonzero(np.diff(np.r_[0, shut.astype(np.int8), 0]))
    phones = [Phone("B", a / fps, b / fps) for a, b in zip(edges[::2], edges[1::2])]
    # The model's flag already marks where the lips close (it was trained on masks with margins), so its
    # run edges sit near frame centres: half a frame on each side stands for the frame's own extent.
    runs = closure_intervals(phones, lead_s=0.5 / fps, tail_s=0.5 / fps)
    return interval_frames(runs, fps, len(shut))


def animate(
    audio: str | os.PathLike | np.ndarray | Audio,
    text: str | None = None,
    emotion: Any = "neutral",
    intensity: float | str = 1.0,
    emotion_track: str | list | None = None,
    fps: float = DEFAULT_FPS,
    seed: int = 0,
    method: str = "auto",
    *,
    sample_rate: int | None = None,
    articulation: float = 1.0,
    life: bool = True,
    max_seconds: float = MAX_SECONDS,
    silence_dbfs: float = SILENCE_DBFS,
    emotion_smoothing_s: float = 0.12,
    model: Any = None,
    head: BlendshapeHead | None = None,
    speech_share: float | None = None,
) -> ExpressionSequence:
    """Return a talking-face `ExpressionSequence` (T = ceil(duration * fps) frames of ARKit 52) for speech audio.

    Args:
        audio: path to a WAV/FLAC/OGG/MP3 file, or a raw (N,) float array with `sample_rate`.
        text: transcript; with it the phones are force-aligned (closures and tucks exactly at the words'
            p/b/m and f/v: best lip sync), without it they are recognised from the audio.
        emotion: emotion label ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger",
            "contempt") or anything `generators.expression.expression_weights` takes.
        intensity: 0..1 strength of `emotion`, or "auto": the strength follows vocal arousal (loudness, pitch
            range, speaking rate; `generators.speech.prosody`, a prosody heuristic, not emotion recognition)
            between 0.25 and 1.
        emotion_track: e.g. "0:neutral,1.5:anger@0.9,4:neutral" (seconds:label@intensity); overrides `emotion`.
        fps: output frame rate.
        seed: seeds blinks, gaze and head motion; equal inputs and seed give identical output.
        method: "phonetic" (pocketsphinx alignment + coarticulated visemes), "hybrid" (the neural mouth with
            the bilabial closures and f/v tucks of the aligned transcript, or without one of both the model and
            the decoded phones), "neural" (the shipped audio->ARKit model), or "auto" (hybrid when both
            pocketsphinx and the model's weights are present, else whichever of the two is).
        sample_rate: rate of a raw array `audio` (required then).
        articulation: mouth amplitude scale (0.7 mumbled, 1.3 exaggerated).
        life: add blinks, gaze and prosody-driven head pose (livelier for surprise and happy, lowered for sad,
            scaled by vocal arousal).
        max_seconds: longest accepted clip (see `generators.speech.audio.load_audio`).
        silence_dbfs: a clip whose loudest 25 ms frame is quieter than this holds no speech: it is animated as
            an idle face (blinks, gaze, breathing, the emotion) for its whole length, with one warning, as is
            a clip with under `MIN_SPEECH_S` of voice activity; one that is mostly silence (under
            `MOSTLY_SILENT_SHARE` active) talks where there is speech and warns once. Pauses are idle.
        emotion_smoothing_s: low-pass applied to an emotion track, in seconds.
        model: a `SpeechToARKit` instance or a path to its checkpoint folder for method "neural".
        head: the head this animation is for; bilabial closure is solved on its own lips (default: the
            shipped head; a head without lip landmarks falls back to the shipped head's, with a warning).
        speech_share: share (0..1) of the emotion's own articulator opening that speech takes over while talking: in
            the words, the pauses under 0.5 s between them, 0.25 s before and 0.1 s after (`emotion_layer.talking_envelope`;
            a longer pause gets the emotion's full face back) (None: `emotion_layer.SPEECH_SHARE`, the tuned default).
    Returns:
        `ExpressionSequence` with weights (T, 52) float32, head_pose (T, 6), per-frame emotion labels,
        and `audio` set to the source path (None for raw arrays).
    Raises:
        AvatarInputError: missing/unreadable/empty/over-long audio, bad arguments, missing extras.
    """
    fps = _check_args(fps, seed, method, intensity, articulation)
    # Silence is input (a pause in a dialogue, a listener's turn): measured here, not rejected by the loader.
    feats = analyse_audio(audio, sample_rate, max_seconds=max_seconds, silence_dbfs=-np.inf)
    clip = feats.audio
    n_frames = max(1, int(math.ceil(clip.duration * fps - 1e-9)))
    if _has_speech(feats, silence_dbfs):
        chosen = resolve_method(method, text)
        speech, shut, tuck = speech_curves(feats, n_frames, fps, chosen, text, articulation, model)
        activity = frame_activity(feats, n_frames, fps)
        # Silence keeps the mouth closed even where an alignment runs phones into a pause (a model that learned
        # when people part their lips before speaking is let through a little earlier).
        speech *= speech_gate(activity, fps, model_anticipation(chosen, model))[:, None]
        jaw = index_of("jawOpen")
        speech[:, jaw] *= loudness_gain(feats, n_frames, fps)
    else:
        # No speech to align or decode (the recognisers would invent words in noise): the emotion alone.
        speech = np.zeros((n_frames, len(ARKIT_NAMES)), np.float32)
        shut, tuck = np.zeros(n_frames, bool), np.zeros(n_frames, bool)
        activity = np.zeros(n_frames, np.float32)
    from generators.speech.visemes import rest_posture

    # People's lips rest parted (benchmarks/data/realism), in pauses and idle clips too; closures re-solve below.
    speech = rest_posture(speech, pause=activity <= 0.5)

    from generators.speech.emotion_layer import compose, emotion_curves

    from generators.speech.prosody import ArousalTracker, vocal_arousal

    arousal = vocal_arousal(feats, n_frames, fps)
    if intensity == "auto":
        if emotion_track is not None and not (isinstance(emotion_track, str) and not emotion_track.strip()):
            raise AvatarInputError("intensity='auto' scales emotion=, not an emotion_track (its keys carry intensities)")
        emo, labels = emotion_curves(n_frames, fps, emotion, 1.0, None, smoothing_s=emotion_smoothing_s)
        emo = emo * np.array([ArousalTracker.intensity(a) for a in arousal], np.float32)[:, None]
    else:
        emo, labels = emotion_curves(n_frames, fps, emotion, intensity, emotion_track, smoothing_s=emotion_smoothing_s)
    share = {} if speech_share is None else {"speech_share": check_range(speech_share, "speech_share")}
    weights = compose(speech, emo, shut, activity, lip_model=_lip_model(head), tuck=tuck, fps=fps, **share)
    head_pose = None
    if life:
        from generators.speech.life import add_life

        weights, head_pose = add_life(weights, fps, int(seed), energy_db=feats.rms_db, f0=feats.pitch, activity=activity,
                                      hop_s=feats.hop_s, labels=labels, arousal=arousal)
    return ExpressionSequence(weights, fps=fps, head_pose=head_pose, labels=labels, audio=clip.path)


def _has_speech(feats: AudioFeatures, silence_dbfs: float) -> bool:
    """Return whether the clip holds speech to animate; warn once (UserWarning) when it is silent or mostly silence."""
    name = f"audio file {feats.audio.path!r}" if feats.audio.path else "the audio array"
    seconds = feats.audio.duration
    loudest = float(feats.rms_db.max())
    spoken = float(np.count_nonzero(feats.activity)) * feats.hop_s if loudest >= silence_dbfs else 0.0
    idle = "an idle face (blinks, gaze, breathing, the emotion)"
    if loudest < silence_dbfs:
        message = (f"{name} is silent (loudest frame {loudest:.1f} dBFS RMS, below the {silence_dbfs:.0f} dBFS threshold): "
                   f"animated as {idle} for its {seconds:.2f} s; lower silence_dbfs if it holds quiet speech")
    elif spoken < MIN_SPEECH_S:
        message = (f"{name} holds no speech ({spoken:.2f} s of voice activity in {seconds:.2f} s): "
                   f"animated as {idle} for its whole length")
    elif spoken < MOSTLY_SILENT_SHARE * seconds:
        message = (f"{name} is mostly silence ({spoken:.2f} s of voice activity in {seconds:.2f} s): "
                   f"the silence is animated as {idle}")
    else:
        return True
    talking = spoken >= MIN_SPEECH_S and loudest >= silence_dbfs
    warnings.warn(message, SilenceWarning if talking else NoSpeechWarning, stacklevel=3)
    return talking


def _lip_model(head: BlendshapeHead | None) -> Any:
    """Return the LipModel of `head` (None: the shipped head's), falling back with a warning when it has no lip landmarks."""
    if head is None:
        return None
    from generators.speech.visemes import LipModel

    if head.landmarks68 is None:
        warnings.warn(f"head {head.name!r} has no 68-point landmarks to find its lips; bilabial closure is solved "
                      "on the shipped head's lips instead", UserWarning, stacklevel=3)
        return None
    return LipModel.from_head(head)
