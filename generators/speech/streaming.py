"""Live speech -> ARKit frames: audio in chunks of any size, frames out as soon as they are decided.

`StreamingAnimator` runs the neural path causally with a fixed algorithmic latency:

* features: the model's own log-mel frames (25 ms window, 10 ms hop), normalised per band by the running
  mean and standard deviation of everything heard so far (the offline path normalises by the whole clip;
  that is the main source of difference between the two, largest in the first half second);
* model: `SpeechModelNumpy.step` (the model's one inference definition): its conv front end over the last 12
  feature frames and one GRU step per 20 ms, the hidden state carried between chunks, so output step m sees
  feature frames up to 2m + lookahead;
* frames at `fps`, interpolated between 50 Hz outputs exactly as `SpeechToARKit.predict` does;
* voice activity: the same energy gate with hysteresis and hangover as `audio.voice_activity`, on the
  running noise floor and peak (its pause-bridging needs the future, so it is left out), softened by a
  causal one-pole filter; loudness gain from the running 95th-percentile level;
* lip closure: the predicted flag (the model learned the closure margins) with the release ramp, solved on
  the head's own lips;
* emotion: a constant pose, or `intensity="auto"` following the running vocal arousal; speech takes over
  `speech_share` of its articulator opening while talking, on a causal talking envelope (`_TalkState`): the
  voice, held through a pause as long as the offline envelope bridges (`TALK_BRIDGE_S` = 0.5 s: a stream cannot
  know whether a pause will end soon), then eased out; it cannot lead the voice onset;
* life: seeded blinks and gaze identical to the offline path's (their random draws do not depend on the
  clip length) and a causal head motion with the same emotion/arousal style as `life.head_motion`; breathing
  where the voice rests, as offline.

Latency: a frame at time t is emitted once audio up to t + `latency_s` has been pushed: the model's look-ahead
(`lookahead` x 10 ms = 60 ms for the shipped model) + half the analysis window (12.5 ms) + one 50 Hz output
step for interpolation (20 ms) = 92.5 ms for the shipped model, at any chunk size. Chunking never changes
the output: 20 ms chunks give the same frames as one push of the whole clip (to float rounding).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar.constants import DEFAULT_FPS, HOP_S, SAMPLE_RATE
from avatar.errors import AvatarInputError
from avatar.rig import ARKIT_NAMES, index_of
from avatar.validation import check_fps, check_seed, check_unit
from generators.speech.audio import frames_pitch


@dataclass(frozen=True)
class StreamFrame:
    """One streamed frame.

    Attributes:
        index: frame number from the start of the stream.
        time: seconds from the start of the stream (index / fps).
        weights: (52,) float32 ARKit weights in `ARKIT_NAMES` order.
        head_pose: (6,) float32 pitch, yaw, roll (radians) and tx, ty, tz (cm).
        label: the emotion label of the frame.
    """

    index: int
    time: float
    weights: np.ndarray
    head_pose: np.ndarray
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the frame as a JSON-ready dict: timecode, the 52 named weights, head pose, label."""
        secs = self.time
        hh, rem = divmod(secs, 3600.0)
        mm, ss = divmod(rem, 60.0)
        return {
            "frame": self.index, "time": round(self.time, 6), "timecode": f"{int(hh):02d}:{int(mm):02d}:{ss:06.3f}",
            "blendshapes": {n: round(float(v), 5) for n, v in zip(ARKIT_NAMES, self.weights)},
            "head_pose": {k: round(float(v), 6) for k, v in zip(("pitch", "yaw", "roll", "tx", "ty", "tz"), self.head_pose)},
            "emotion": self.label,
        }

    def to_json(self) -> str:
        """Return the frame as one line of JSON (see `to_dict`)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))


# Per-band shape (band mean minus the mean over bands) and standard deviation of the model's 40-band log-mel
# (16 kHz, 60-7600 Hz) of real voices: 57 speakers, 67 clips (every second speaker by name of a set of 114 voices
# from Common Voice (CC0), VCTK and LibriSpeech (CC BY 4.0), CMU ARCTIC and LJ Speech; per speaker first, then over
# speakers; `scripts/fit_stream_prior.py`, docs/speech.md). They stand in for the running statistics until enough
# audio has been heard: the shape is gain-free (the level comes from the stream itself), so a prior costs nothing
# when the recording is louder or quieter. The previous prior, from synthetic training voices, made the stream's
# mouth follow the offline model's less on the other 57 real speakers (r 0.87 against 0.89).
PRIOR_SHAPE_40 = np.array([
    3.129, 3.606, 3.573, 3.174, 3.088, 2.730, 2.685, 2.337, 1.850, 1.333, 0.974, 0.625, 0.391, 0.103, 0.010, -0.177,
    -0.193, -0.089, -0.058, -0.168, -0.331, -0.477, -0.548, -0.535, -0.583, -0.776, -1.017, -1.156, -1.209, -1.237,
    -1.379, -1.546, -1.763, -1.954, -2.105, -2.236, -2.333, -2.409, -2.551, -2.783])
PRIOR_STD_40 = np.array([
    3.545, 4.032, 4.267, 4.251, 4.243, 4.268, 4.300, 4.256, 4.081, 3.860, 3.662, 3.455, 3.302, 3.151, 3.080, 3.011,
    3.010, 3.047, 3.083, 3.024, 2.930, 2.866, 2.845, 2.836, 2.832, 2.738, 2.599, 2.537, 2.527, 2.586, 2.542, 2.458,
    2.410, 2.355, 2.311, 2.243, 2.178, 2.132, 2.024, 1.868])
PRIOR_FRAMES = 100
"""Weight of the prior in feature frames (1 s): after a few seconds the stream's own statistics dominate."""


class _RunningStats:
    """Running per-band mean and variance (Welford) shrunk toward a gain-free prior, for causal feature normalisation."""

    def __init__(self, n: int, prior: bool = True) -> None:
        self.count = 0
        self.mean = np.zeros(n, np.float64)
        self.m2 = np.zeros(n, np.float64)
        self.prior = prior and n == len(PRIOR_SHAPE_40)

    def update(self, x: np.ndarray) -> None:
        self.count += 1
        d = x - self.mean
        self.mean += d / self.count
        self.m2 += d * (x - self.mean)

    def normalise(self, x: np.ndarray) -> np.ndarray:
        var = self.m2 / max(1, self.count)
        mean = self.mean
        if self.prior:
            n, n0 = float(self.count), float(PRIOR_FRAMES)
            mean = (n * self.mean + n0 * (self.mean.mean() + PRIOR_SHAPE_40)) / (n + n0)
            var = (n * var + n0 * PRIOR_STD_40 ** 2) / (n + n0)
        return ((x - mean) / (np.sqrt(var) + 1e-3)).astype(np.float32)


class StreamingAnimator:
    """Return ARKit frames from speech audio pushed in chunks: `push(samples) -> list[StreamFrame]`, then `flush()`.

    Args:
        model: a `SpeechToARKit`, a `SpeechModelNumpy`, a checkpoint folder, or None for the shipped one.
        fps: output frame rate.
        emotion, intensity: the commanded emotion; `intensity="auto"` follows vocal arousal
            (`generators.speech.prosody`).
        seed: seeds blinks, gaze and head motion.
        life: add blinks, gaze and head motion.
        sample_rate: rate of the pushed samples (resampled to the model's rate when different).
        lip_model: the head's `LipModel` (default: the shipped head's).
        articulation: mouth amplitude scale.
    """

    def __init__(self, model: Any = None, *, fps: float = DEFAULT_FPS, emotion: Any = "neutral",
                 intensity: float | str = 1.0, seed: int = 0, life: bool = True, sample_rate: int = SAMPLE_RATE,
                 lip_model: Any = None, articulation: float = 1.0) -> None:
        from generators.speech.emotion_layer import _label_of
        from generators.speech.net_numpy import _filterbank, as_numpy_model
        from generators.speech.visemes import default_lip_model

        self.fps = check_fps(fps)
        check_seed(seed)
        self.auto = isinstance(intensity, str)
        if self.auto and intensity != "auto":
            raise AvatarInputError(f"intensity must be a number in 0..1 or 'auto', got {intensity!r}")
        if not self.auto:
            check_unit(intensity, "intensity")
        self.intensity = 1.0 if self.auto else float(intensity)
        self.net = as_numpy_model(model)  # the model's one inference definition, one 50 Hz step at a time
        self.cfg = self.net.config
        if int(sample_rate) <= 0:
            raise AvatarInputError(f"sample_rate must be positive, got {sample_rate!r}")
        self.in_rate = int(sample_rate)
        self.rate = int(self.cfg["sample_rate"])
        self.lips = lip_model or default_lip_model()
        self.articulation = float(articulation)
        self.seed, self.life = int(seed), bool(life)
        from generators.expression import expression_weights

        self.pose = np.asarray(expression_weights(emotion=emotion, intensity=1.0), np.float32).reshape(-1)
        self.label = _label_of(emotion)
        self.n_fft, self.hop = int(self.cfg["n_fft"]), int(self.cfg["hop"])
        self.lookahead = self.net.lookahead
        self.n_mels = int(self.cfg["n_mels"])
        self._window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
        self._fb = _filterbank(self.rate, self.n_fft, self.n_mels, float(self.cfg["fmin"]), float(self.cfg["fmax"]))
        self._buf = np.zeros(0, np.float32)  # model-rate samples not yet consumed by a complete STFT frame
        self._consumed = 0  # index (in samples) of _buf[0]
        self._head: np.ndarray | None = None  # the first n_fft // 2 samples, for the reflect padding at the start
        self._stats = _RunningStats(self.n_mels)
        self._mel: list[np.ndarray] = []  # normalised feature frames (kept: the last `span` + a few)
        self._mel_offset = 0  # feature index of _mel[0]
        self._n_feat = 0
        self._h = None
        self._logits: list[np.ndarray] = []  # 50 Hz output logits
        self._levels: list[float] = []  # 10 ms RMS dBFS levels
        self._gains: list[float] = []  # jaw loudness gain per level frame
        self._arousals: list[float] = []  # vocal arousal per level frame
        self._next_frame = 0
        self._resample_state = None
        self._samples_in = 0
        self._closure = _ClosureState(self.fps)
        self._talk = _TalkState(self.fps)
        self._gate = _GateState()
        from generators.speech.prosody import ArousalTracker

        self._arousal = ArousalTracker(HOP_S)
        self._life_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._head_motion = _CausalHead(self.fps, self.seed, self.label)
        self._flushed = False

    @property
    def latency_s(self) -> float:
        """Return the algorithmic latency in seconds: audio beyond a frame's time needed before it is emitted."""
        return self.lookahead * self.hop / self.rate + 0.5 * self.n_fft / self.rate + 2 * self.hop / self.rate

    # ------------------------------------------------------------------ input
    def push(self, samples: np.ndarray) -> list[StreamFrame]:
        """Return the frames decided by this chunk of (N,) float samples in [-1, 1] (or int16 PCM) at `sample_rate`."""
        if self._flushed:
            raise AvatarInputError("this StreamingAnimator was flushed: make a new one for a new stream")
        x = np.asarray(samples)
        if x.dtype.kind in "iu":
            x = x.astype(np.float32) / 32768.0
        x = np.asarray(x, np.float32).reshape(-1)
        if not np.all(np.isfinite(x)):
            raise AvatarInputError("audio chunk contains NaN or infinite samples")
        self._samples_in += len(x)
        if self.in_rate != self.rate:
            x = self._resample(x)
        self._feed(x)
        return self._emit(final=False)

    def flush(self) -> list[StreamFrame]:
        """Return the remaining frames, up to the end of the audio pushed so far (the stream then ends)."""
        if self._flushed:
            return []
        self._flushed = True
        if self._samples_in == 0:
            return []
        if self.in_rate != self.rate and self._resample_state is not None:
            tail = self._resample_state.resample_chunk(np.zeros(0, np.float32), last=True)
            self._feed(np.asarray(tail, np.float32))
        # Reflect-pad the end as the offline features do, then the model's zero look-ahead padding.
        if len(self._buf):
            pad = self._buf[-2 : -self.n_fft // 2 - 2 : -1] if len(self._buf) > self.n_fft // 2 + 1 else np.zeros(self.n_fft // 2, np.float32)
            self._feed(np.pad(pad, (0, max(0, self.n_fft // 2 - len(pad)))), final=True)
        for _ in range(self.lookahead):
            self._mel.append(np.zeros(self.n_mels, np.float32))
            self._n_feat += 1
            self._run_model()
        return self._emit(final=True)

    def _resample(self, x: np.ndarray) -> np.ndarray:
        import soxr

        if self._resample_state is None:
            self._resample_state = soxr.ResampleStream(self.in_rate, self.rate, 1, dtype="float32", quality="HQ")
        return np.asarray(self._resample_state.resample_chunk(x), np.float32)

    def _feed(self, x: np.ndarray, final: bool = False) -> None:
        if self._head is None or len(self._head) < self.n_fft // 2 + 1:
            # The offline features reflect the clip's first samples into the padding before it.
            have = 0 if self._head is None else len(self._head)
            self._head = np.concatenate([self._head if self._head is not None else np.zeros(0, np.float32),
                                         x[: self.n_fft // 2 + 1 - have]])
        self._buf = np.concatenate([self._buf, x])
        half = self.n_fft // 2
        while True:
            start = self._n_feat * self.hop - half  # frame n spans samples [n*hop - half, n*hop + half)
            end = start + self.n_fft
            if end - self._consumed > len(self._buf):
                break
            if start < 0:
                if len(self._head) < half + 1:
                    break
                pre = self._head[1 : 1 - start][::-1]
                frame = np.concatenate([pre, self._buf[: end - self._consumed]])
            else:
                frame = self._buf[start - self._consumed : end - self._consumed]
            self._add_feature(frame)
            drop = max(0, (self._n_feat * self.hop - half) - self._consumed)
            if drop:
                self._buf = self._buf[drop:]
                self._consumed += drop
        if final:
            return
        # 10 ms RMS levels (25 ms windows) for the gate, loudness and arousal, from the same buffer's timeline.

    def _add_feature(self, frame: np.ndarray) -> None:
        spec = np.abs(np.fft.rfft(frame * self._window, self.n_fft)) ** 2
        logmel = np.log(spec @ self._fb.T + 1e-6).astype(np.float64)
        self._stats.update(logmel)
        self._mel.append(self._stats.normalise(logmel))
        # Level of the centre 25 ms (the offline gate's frame), in dBFS.
        c = frame[(self.n_fft - 400) // 2 : (self.n_fft + 400) // 2] if self.n_fft >= 400 else frame
        level = 10.0 * math.log10(max(float(np.mean(c.astype(np.float64) ** 2)), 1e-12))
        self._levels.append(level)
        self._gate.update(level)
        self._arousal.update(level, float(frames_pitch(frame[None], self.rate)[0]))
        # Decided now, from what has been heard up to this feature frame: chunking cannot change them.
        self._gains.append(self._gate.loudness_gain(len(self._levels) - 1))
        self._arousals.append(self._arousal.value())
        self._n_feat += 1
        self._run_model()

    def _run_model(self) -> None:
        span = self.net.span
        # Output step m needs feature frames 2m - (span - lookahead) .. 2m + lookahead.
        while True:
            m = len(self._logits)
            last = 2 * m + self.lookahead
            if last >= self._n_feat:
                return
            first = last - span
            zeros = np.zeros(self.n_mels, np.float32)
            x = np.stack([self._mel[k - self._mel_offset] if k >= 0 else zeros for k in range(first, last + 1)], axis=1)
            logits, self._h = self.net.step(x, self._h)
            self._logits.append(logits.astype(np.float64))
            keep_from = max(0, first + 2 - self._mel_offset)
            if keep_from > 0:
                self._mel = self._mel[keep_from:]
                self._mel_offset += keep_from

    # ------------------------------------------------------------------ output
    def _emit(self, final: bool) -> list[StreamFrame]:
        frames = []
        step = self.rate / self.hop / 2.0  # 50 Hz
        total_s = self._samples_in / self.in_rate
        while True:
            i = self._next_frame
            t = i / self.fps
            if final:
                if i >= max(1, int(math.ceil(total_s * self.fps - 1e-9))):
                    break
            else:
                need = int(math.ceil(t * step - 1e-9))
                if need >= len(self._logits) or t >= total_s:
                    break
            frames.append(self._frame(i, t, step))
            self._next_frame += 1
        return frames

    def _frame(self, i: int, t: float, step: float) -> StreamFrame:
        from generators.speech.emotion_layer import compose
        from generators.speech.net_numpy import apply_opening_gain
        from generators.speech.visemes import rest_posture

        logits = np.asarray(self._logits)
        src = t * step
        j0 = min(int(math.floor(src)), len(logits) - 1)
        j1 = min(j0 + 1, len(logits) - 1)
        a = src - j0 if j1 > j0 else 0.0
        z = (1 - a) * logits[j0] + a * logits[j1]
        k = len(self.cfg["blendshape_names"])
        speech = (1.0 / (1.0 + np.exp(-z[:k]))).astype(np.float32)[None]
        speech = apply_opening_gain(speech, self.cfg["blendshape_names"], float(self.cfg.get("opening_gain", 1.0)))
        speech = np.clip(speech * self.articulation, 0.0, 1.0)
        shut_raw = bool(z[k] > 0.0)
        level_idx = min(len(self._levels) - 1, int(t / HOP_S)) if self._levels else 0
        act = self._gate.activity_at(level_idx, self.fps)
        speech *= act
        speech[0, index_of("jawOpen")] *= self._gains[level_idx] if self._gains else 1.0
        speech = rest_posture(speech, pause=np.array([act <= 0.5]))
        arousal = self._arousals[level_idx] if self._arousals else 0.5
        scale = self._arousal.intensity(arousal) if self.auto else self.intensity
        emo = (self.pose * scale)[None]
        amount = self._closure.step(shut_raw)
        talking = self._talk.step(act)
        w = compose(speech.astype(np.float32), emo.astype(np.float32), np.array([amount], np.float32),
                    np.array([act], np.float32), lip_model=self.lips, talking=np.array([talking], np.float32))[0]
        pose = np.zeros(6, np.float32)
        if self.life:
            w, pose = self._add_life(i, w, level_idx, arousal, act)
        return StreamFrame(i, t, w.astype(np.float32), pose, self.label)

    def _add_life(self, i: int, w: np.ndarray, level_idx: int, arousal: float, act: float) -> tuple[np.ndarray, np.ndarray]:
        from generators.speech.life import LifeOptions, blink_curve, breathing_curve, breathing_pose, gaze_curves, gaze_weights

        opts = LifeOptions()
        if self._life_cache is None or i >= self._life_cache[0]:
            # Blink, gaze and breath draws do not depend on the horizon, so growing it reproduces the offline curves.
            horizon = max(int(self.fps * 30), 2 * (i + 1))
            rng_blink, rng_gaze, _, rng_breath = (np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(4))
            self._life_cache = (horizon, blink_curve(horizon, self.fps, rng_blink, opts),
                                gaze_weights(gaze_curves(horizon, self.fps, rng_gaze, opts), opts.eye_range_deg),
                                breathing_curve(horizon, self.fps, rng_breath, opts))
        _, blinks, gaze, breath = self._life_cache
        out = w.copy()
        for side in ("Left", "Right"):
            kb = index_of("eyeBlink" + side)
            out[kb] = max(out[kb], blinks[i])
            out[index_of("eyeWide" + side)] *= 1.0 - blinks[i]
        from generators.speech.life import _EYE_LOOK

        cols = [index_of(c) for c in _EYE_LOOK]
        out[cols] = np.clip(out[cols] + gaze[i], 0.0, 1.0)
        level = self._levels[level_idx] if self._levels else -120.0
        pose = self._head_motion.step(level, act, arousal)
        if opts.breathing:  # where the voice rests, as offline (causally eased activity instead of a centred one)
            pose = pose + breathing_pose(breath[i : i + 1], np.array([1.0 - self._head_motion.act]), opts)[0]
        return out, pose


class _TalkState:
    """Causal `emotion_layer.talking_envelope`: 1 while the voice is active and for `TALK_BRIDGE_S` after it stops
    (every pause the offline envelope bridges whole; the stream cannot see whether a pause will end), then eased out
    by a one-pole filter of time constant `TALK_EASE_S`; it rises with the voice itself (no lead)."""

    def __init__(self, fps: float) -> None:
        from generators.speech.emotion_layer import TALK_BRIDGE_S, TALK_EASE_S

        self.hold = int(round(TALK_BRIDGE_S * fps))
        self.a = math.exp(-1.0 / max(TALK_EASE_S * fps, 1e-6))
        self.since_voice = 10**9
        self.env = 0.0

    def step(self, activity: float) -> float:
        self.since_voice = 0 if activity > 0.5 else self.since_voice + 1
        target = 1.0 if self.since_voice <= self.hold else 0.0
        self.env = max(self.a * self.env + (1.0 - self.a) * target, float(activity))
        return float(min(self.env, 1.0))


class _ClosureState:
    """Causal `visemes.closure_envelope` of the model's closure flag (optionally widened like `talking.widen_closure`)."""

    def __init__(self, fps: float, release_s: float | None = None, widen: bool = False) -> None:
        from generators.speech.visemes import RELEASE_S

        release_s = RELEASE_S if release_s is None else release_s
        self.fps = fps
        self.widen = widen
        self.run = 0  # length of the current predicted run
        self.hold_until = -1  # frames up to this index stay shut after a run (widening)
        self.i = -1
        self.since_shut = 10**9
        self.ramp = int(round(release_s * fps))

    def step(self, pred: bool) -> float:
        from generators.speech.phonetic import Phone
        from generators.speech.visemes import closure_intervals

        self.i += 1
        if pred:
            self.run += 1
        elif self.run and self.widen:
            s = self.i - self.run
            (a, b), = closure_intervals([Phone("B", s / self.fps, self.i / self.fps)], lead_s=0.5 / self.fps,
                                        tail_s=0.5 / self.fps)
            self.hold_until = int(math.floor(b * self.fps + 1e-9))
            self.run = 0
        else:
            self.run = 0
        shut = pred or self.i <= self.hold_until
        if shut:
            self.since_shut = 0
            return 1.0
        self.since_shut += 1
        j = self.since_shut - 1
        return max(0.0, 1.0 - (j + 1) / (self.ramp + 1)) if j < self.ramp else 0.0


DIGITAL_SILENCE_DBFS = -90.0
"""Frames quieter than this hold no signal (a decoder's priming zeros, a muted input): they are never voice, and the
gate's noise floor leaves them out. The offline gate takes its floor from the whole clip, 40 dB under its loudest
frame at least; a stream has not heard its loudest frame yet, and a few zero frames at its start made the 10th
percentile of its levels -103 dB, so the room's noise at -53 dB opened the mouth before the first word (a CREMA-D
take decoded from Flash video)."""


class _GateState:
    """Causal energy gate (hysteresis + hangover) on running floor/peak, like `audio.voice_activity`, plus loudness gain."""

    def __init__(self, on_db: float = 12.0, off_db: float = 6.0, floor_below_peak_db: float = 40.0,
                 hangover_s: float = 0.08, smooth_s: float = 0.05) -> None:
        self.on, self.off, self.below = on_db, off_db, floor_below_peak_db
        self.hang = int(round(hangover_s / HOP_S))
        self.smooth_s = smooth_s
        self.levels: list[float] = []
        self.active: list[bool] = []
        self.state = False
        self.since_on = 10**9
        self.soft: list[float] = []
        self.peak = -120.0
        self.hist = np.zeros(161)  # level histogram, -120..0 dB in 0.75 dB bins, for running percentiles

    def _percentile(self, q: float) -> float:
        c = np.cumsum(self.hist)
        k = int(np.searchsorted(c, q / 100.0 * c[-1]))
        return -120.0 + 0.75 * min(k, len(self.hist) - 1)

    def update(self, level: float) -> None:
        self.levels.append(level)
        self.peak = max(self.peak, level)
        if level < DIGITAL_SILENCE_DBFS:
            self.state = False  # no signal at all: neither voice nor a measure of the room's noise
        else:
            self.hist[int(np.clip((level + 120.0) / 0.75, 0, len(self.hist) - 1))] += 1
            floor = max(self._percentile(10), self.peak - self.below)
            self.state = level > floor + self.off if self.state else level > floor + self.on
        if self.state:
            self.since_on = 0
        else:
            self.since_on += 1
        self.active.append(self.state or self.since_on <= self.hang)
        # One-pole smoothing with the same time constant as the offline Gaussian's sigma.
        a = math.exp(-HOP_S / self.smooth_s)
        prev = self.soft[-1] if self.soft else 0.0
        self.soft.append(a * prev + (1 - a) * float(self.active[-1]))

    def activity_at(self, idx: int, fps: float) -> float:
        if not self.soft:
            return 0.0
        return float(np.clip(self.soft[min(idx, len(self.soft) - 1)], 0.0, 1.0))

    def loudness_gain(self, idx: int, depth: float = 0.35) -> float:
        if not self.levels:
            return 1.0
        hi = self._percentile(95)
        e = self.levels[min(idx, len(self.levels) - 1)]
        norm = float(np.clip((e - (hi - 30.0)) / 30.0, 0.0, 1.0))
        return 1.0 - depth / 2 + depth * norm


class _CausalHead:
    """Causal head motion: loudness accents nod, a seeded slow drift turns, scaled by the emotion/arousal style of `life.head_style`."""

    def __init__(self, fps: float, seed: int, label: str) -> None:
        from generators.speech.life import LifeOptions, head_style

        self.fps = fps
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 7]).spawn(3)]
        self.rngs = rngs
        self.walk = np.zeros(3)
        self.mean = None
        self.accent = 0.0
        self.act = 0.0
        self.opts = LifeOptions()
        self.style = head_style(label)

    def step(self, level: float, act: float, arousal: float) -> np.ndarray:
        taus = (1.5, 2.5, 2.0)
        for k in range(3):
            a = math.exp(-1.0 / (taus[k] * self.fps))
            self.walk[k] = a * self.walk[k] + math.sqrt(1 - a * a) * float(self.rngs[k].standard_normal())
        b = math.exp(-1.0 / (0.6 * self.fps))
        self.mean = level if self.mean is None else b * self.mean + (1 - b) * level
        c = math.exp(-1.0 / (0.08 * self.fps))
        self.accent = c * self.accent + (1 - c) * max(0.0, (level - self.mean) / 10.0)
        d = math.exp(-1.0 / (0.15 * self.fps))
        self.act = d * self.act + (1 - d) * act
        gain, pitch_offset = self.style.amplitude * (0.7 + 0.6 * arousal), self.style.pitch_deg
        p_deg, y_deg, r_deg = self.opts.head_deg
        pitch = (0.6 * min(self.accent, 1.5) * p_deg + 0.5 * p_deg * self.walk[0]) * (0.4 + 0.6 * self.act) * gain
        yaw = y_deg * self.walk[1] * (0.5 + 0.5 * self.act) * gain
        roll = 0.5 * r_deg * self.walk[2] * (0.4 + 0.6 * self.act) * gain
        return np.array([np.deg2rad(pitch + pitch_offset), np.deg2rad(yaw), np.deg2rad(roll), 0.0,
                         -0.15 * min(self.accent, 1.5) * self.act, 0.0], np.float32)
