"""Signs of life for a talking head: seeded blinks, gaze with saccades, and prosody-driven head motion.

Everything is reproducible from one integer seed: each component draws from its own `numpy` Generator
spawned from `SeedSequence(seed)`, so changing, say, the blink rate never changes the gaze path, and
nothing touches global random state.

Numbers from the literature (rough, conversational adults):
* blinks: ~15-25 per minute while talking (Bentivoglio et al. 1997, Mov. Disord.: 17/min at rest,
  26/min in conversation); a blink lasts ~100-400 ms, closing faster than it opens (Caffier et al. 2003;
  VanderWerf et al. 2003);
* gaze: fixations of a few hundred ms to ~2 s separated by saccades of a few degrees, lasting
  ~20-60 ms; speakers look away more than listeners (Lee, Badler & Badler 2002, "Eyes Alive");
* head: nods line up with pitch accents and loudness peaks, and head motion correlates with F0
  (Graf et al. 2002; Busso et al. 2007); amplitudes of a few degrees;
* breathing: 12-20 breaths per minute at rest (adults), inhaling for about 40 % of the cycle; the shoulders
  and chest lift the head a millimetre or so. Shown where the voice is idle (pauses, silent clips).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.constants import EYE_LOOK_DEG, HOP_S
from avatar.rig import ARKIT_NAMES, index_of


@dataclass(frozen=True)
class LifeOptions:
    """Knobs for `add_life`; defaults follow the literature in the module docstring.

    Attributes:
        blink_rate_per_min: mean blink rate.
        blink_duration_s: (min, max) blink duration.
        fixation_s: median fixation duration between saccades.
        saccade_deg: mean saccade amplitude in degrees.
        eye_range_deg: gaze angle that maps to an eyeLook* weight of 1.
        head_deg: (pitch, yaw, roll) typical amplitude in degrees while speaking.
        breaths_per_min: mean resting breath rate.
        breath_deg, breath_cm: how far a full inhale tips the head back (degrees) and lifts it (cm).
    """

    blink_rate_per_min: float = 17.0
    blink_duration_s: tuple[float, float] = (0.10, 0.40)
    fixation_s: float = 0.9
    saccade_deg: float = 4.0
    eye_range_deg: float = EYE_LOOK_DEG
    head_deg: tuple[float, float, float] = (3.0, 4.0, 2.0)
    breaths_per_min: float = 14.0
    breath_deg: float = 0.5
    breath_cm: float = 0.08
    blinks: bool = True
    gaze: bool = True
    head: bool = True
    breathing: bool = True


@dataclass(frozen=True)
class HeadStyle:
    """How an emotion carries the head: `amplitude` scales the motion, `pitch_deg` tilts it (positive: down)."""

    amplitude: float = 1.0
    pitch_deg: float = 0.0


HEAD_STYLES: dict[str, HeadStyle] = {
    # Livelier and slightly raised for high-arousal positive states; lowered and stiller for sadness
    # (Busso et al. 2007, "Rigid head motion in expressive speech animation": head motion differs by
    # emotion, with sadness showing the least activity and happiness/anger the most).
    "neutral": HeadStyle(1.0, 0.0),
    "happy": HeadStyle(1.35, -1.0),
    "surprise": HeadStyle(1.45, -3.0),
    "fear": HeadStyle(1.15, -1.5),
    "anger": HeadStyle(1.25, 2.0),
    "disgust": HeadStyle(0.9, 1.0),
    "contempt": HeadStyle(0.9, -1.5),
    "sad": HeadStyle(0.55, 5.0),
}


def head_style(label: str) -> HeadStyle:
    """Return the `HeadStyle` of an emotion label (neutral for labels it does not know)."""
    return HEAD_STYLES.get(str(label), HEAD_STYLES["neutral"])


def blink_curve(n_frames: int, fps: float, rng: np.random.Generator, opts: LifeOptions = LifeOptions()) -> np.ndarray:
    """Return (T,) float32 eyelid closure in [0, 1] with blinks at a seeded, roughly Poisson rhythm."""
    out = np.zeros(n_frames, np.float32)
    if opts.blink_rate_per_min <= 0 or n_frames == 0:
        return out
    mean_gap = 60.0 / opts.blink_rate_per_min
    # Gamma(shape 3) intervals: as irregular as real blinking, without the implausible back-to-back
    # blinks an exponential would give; a floor of 0.6 s between blinks.
    t = rng.uniform(0.2, mean_gap)
    duration = n_frames / fps
    lo, hi = opts.blink_duration_s
    times = np.arange(n_frames) / fps
    while t < duration:
        d = float(np.clip(rng.lognormal(np.log(np.sqrt(lo * hi)), 0.35), lo, hi))
        close = 0.35 * d  # the lid falls in about a third of the blink and rises more slowly
        rise = (times - t) / close
        fall = 1.0 - (times - t - close) / (d - close)
        shape = np.clip(np.where(times < t + close, rise, fall), 0.0, 1.0)
        out = np.maximum(out, shape.astype(np.float32))
        t += d + max(0.6, rng.gamma(3.0, mean_gap / 3.0))
    return out


def gaze_curves(n_frames: int, fps: float, rng: np.random.Generator, opts: LifeOptions = LifeOptions()) -> np.ndarray:
    """Return (T, 2) float32 gaze angles in degrees (x to the subject's left, y up), fixations joined by saccades."""
    out = np.zeros((n_frames, 2), np.float32)
    t, target = 0.0, np.zeros(2)
    duration = n_frames / fps
    saccade_s = 0.04
    events: list[tuple[float, np.ndarray]] = [(0.0, np.zeros(2))]
    while t < duration:
        t += float(rng.lognormal(np.log(opts.fixation_s), 0.5))
        amp = float(rng.exponential(opts.saccade_deg))
        ang = float(rng.uniform(0, 2 * np.pi))
        # Pull back toward the listener: long looks away are rarer than glances.
        target = 0.55 * target + np.array([amp * np.cos(ang), 0.6 * amp * np.sin(ang)])
        events.append((t, target.copy()))
    times = np.arange(n_frames) / fps
    for (t0, g0), (t1, g1) in zip(events[:-1], events[1:]):
        hold = (times >= t0) & (times < t1)
        out[hold] = g0
        moving = (times >= t1) & (times < t1 + saccade_s)
        out[moving] = g0 + (g1 - g0) * ((times[moving] - t1) / saccade_s)[:, None]
    last_t, last_g = events[-1]
    out[times >= last_t + saccade_s] = last_g
    return out


def breathing_curve(n_frames: int, fps: float, rng: np.random.Generator, opts: LifeOptions = LifeOptions()) -> np.ndarray:
    """Return (T,) float32 breath in [0, 1] (0 at rest after an exhale, 1 at the top of an inhale), seeded.

    Each breath's length is drawn in turn (about `breaths_per_min`, +-15 %), so a longer clip only adds breaths
    at its end: the streaming path reproduces the offline curve.
    """
    out = np.zeros(n_frames, np.float32)
    if opts.breaths_per_min <= 0 or n_frames == 0:
        return out
    period = 60.0 / opts.breaths_per_min
    times = np.arange(n_frames) / fps
    t = -float(rng.uniform(0.0, period))  # the clip starts somewhere in a breath
    while t < n_frames / fps:
        d = float(np.clip(rng.lognormal(np.log(period), 0.15), 0.6 * period, 1.6 * period))
        inhale = 0.4 * d
        u = times - t
        rise = 0.5 - 0.5 * np.cos(np.pi * np.clip(u / inhale, 0.0, 1.0))
        fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((u - inhale) / (d - inhale), 0.0, 1.0))
        inside = (u >= 0) & (u < d)
        out[inside] = np.where(u[inside] < inhale, rise[inside], fall[inside])
        t += d
    return out


def breathing_pose(breath: np.ndarray, idle: np.ndarray, opts: LifeOptions = LifeOptions()) -> np.ndarray:
    """Return (T, 6) float32 head-pose offsets of breathing: the head tips back and rises on each inhale where `idle` (T,) is 1."""
    b = np.asarray(breath, np.float64) * np.clip(np.asarray(idle, np.float64), 0.0, 1.0)
    pose = np.zeros((len(b), 6), np.float32)
    pose[:, 0] = -np.deg2rad(opts.breath_deg) * b  # pitch positive is down
    pose[:, 4] = opts.breath_cm * b
    return pose


def gaze_weights(gaze_deg: np.ndarray, eye_range_deg: float = EYE_LOOK_DEG) -> np.ndarray:
    """Return (T, 8) eyeLook* weights [DownL, DownR, InL, InR, OutL, OutR, UpL, UpR] for (T, 2) gaze angles."""
    x = np.clip(gaze_deg[:, 0] / eye_range_deg, -1, 1)
    y = np.clip(gaze_deg[:, 1] / eye_range_deg, -1, 1)
    left, right, up, down = np.clip(x, 0, 1), np.clip(-x, 0, 1), np.clip(y, 0, 1), np.clip(-y, 0, 1)
    # Looking to the subject's left: the left eye looks out, the right eye looks in.
    return np.stack([down, down, right, left, left, right, up, up], axis=1).astype(np.float32)


_EYE_LOOK = ("eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
             "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight")


def head_motion(
    n_frames: int, fps: float, energy_db: np.ndarray, f0: np.ndarray, activity: np.ndarray, hop_s: float,
    rng: np.random.Generator, opts: LifeOptions = LifeOptions(),
) -> np.ndarray:
    """Return (T, 6) float32 head pose (pitch, yaw, roll radians; tx, ty, tz cm) driven by prosody.

    Pitch nods follow loudness accents (energy above its running mean), roll follows F0 deviations from
    the speaker's median, yaw is a slow seeded random walk; all scale with voice activity so the head
    settles during pauses.
    """
    from generators.speech.smoothing import gaussian_filter1d

    t_frames = np.arange(n_frames) / fps
    t_hop = np.arange(len(energy_db)) * hop_s
    e = np.interp(t_frames, t_hop, energy_db)
    voiced = f0 > 0
    semis = np.zeros_like(f0)
    if voiced.any():
        semis[voiced] = 12.0 * np.log2(f0[voiced] / np.median(f0[voiced]))
    semis = np.interp(t_frames, np.arange(len(f0)) * hop_s, gaussian_filter1d(semis, 5)) if len(f0) > 1 else np.zeros(n_frames)
    accent = e - gaussian_filter1d(e, 0.6 * fps, mode="nearest")
    accent = gaussian_filter1d(np.clip(accent, 0, None), 0.08 * fps, mode="nearest")
    accent /= max(float(np.percentile(accent, 95)), 1e-6)
    act = gaussian_filter1d(activity.astype(np.float64), 0.15 * fps, mode="nearest")

    def walk(scale: float, tau_s: float) -> np.ndarray:
        # Ornstein–Uhlenbeck: a smooth random drift that returns to centre on a time scale of tau_s.
        a = np.exp(-1.0 / (tau_s * fps))
        x, out = 0.0, np.empty(n_frames)
        noise = rng.standard_normal(n_frames) * np.sqrt(1 - a * a)
        for i in range(n_frames):
            x = a * x + noise[i]
            out[i] = x
        return gaussian_filter1d(out, 0.1 * fps, mode="nearest") * scale

    p_deg, y_deg, r_deg = opts.head_deg
    pitch = (0.6 * accent * p_deg + walk(0.5 * p_deg, 1.5)) * (0.4 + 0.6 * act)  # nod down on accents
    yaw = walk(y_deg, 2.5) * (0.5 + 0.5 * act)
    roll = (0.15 * np.clip(semis, -6, 6) * r_deg + walk(0.5 * r_deg, 2.0)) * (0.4 + 0.6 * act)
    pose = np.zeros((n_frames, 6), np.float32)
    pose[:, 0] = np.deg2rad(pitch)
    pose[:, 1] = np.deg2rad(yaw)
    pose[:, 2] = np.deg2rad(roll)
    pose[:, 4] = -0.15 * accent * act  # a small dip with the nod, in cm
    pose[:, 5] = walk(0.2, 3.0)  # lean toward/away from the camera
    return pose


def add_life(
    weights: np.ndarray, fps: float, seed: int, *, energy_db: np.ndarray, f0: np.ndarray, activity: np.ndarray,
    hop_s: float = HOP_S, opts: LifeOptions = LifeOptions(), labels: list[str] | None = None,
    arousal: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (weights (T, 52) with blinks and gaze, head pose (T, 6)) for a seed; inputs are not modified.

    Blinks take the max with the emotion's eyeBlink and suppress eyeWide while the lid is down; gaze is
    added to the emotion's eyeLook* values. `activity` is (T,) voice activity at `fps`. With per-frame
    emotion `labels` and/or (T,) vocal `arousal` in [0, 1], head motion follows them: each emotion's
    `HeadStyle` scales the motion and tilts the head (livelier for surprise and happy, lowered for sad),
    and arousal scales it by 0.7..1.3; both eased over ~0.3 s.
    """
    n = len(weights)
    # spawn(4)'s first three children are spawn(3)'s: adding breathing changed no blink, gaze or head draw.
    rng_blink, rng_gaze, rng_head, rng_breath = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4))
    out = weights.astype(np.float32).copy()
    if opts.blinks:
        b = blink_curve(n, fps, rng_blink, opts)
        for side in ("Left", "Right"):
            k = index_of("eyeBlink" + side)
            out[:, k] = np.maximum(out[:, k], b)
            out[:, index_of("eyeWide" + side)] *= 1.0 - b
    if opts.gaze:
        g = gaze_weights(gaze_curves(n, fps, rng_gaze, opts), opts.eye_range_deg)
        cols = [index_of(c) for c in _EYE_LOOK]
        out[:, cols] = np.clip(out[:, cols] + g, 0.0, 1.0)
    pose = np.zeros((n, 6), np.float32)
    if opts.head and n > 0:
        pose = head_motion(n, fps, energy_db, f0, activity, hop_s, rng_head, opts)
        if labels is not None or arousal is not None:
            from generators.speech.smoothing import gaussian_filter1d

            styles = [head_style(lab) for lab in (labels if labels is not None else ["neutral"] * n)]
            amp = np.array([st.amplitude for st in styles], np.float64)
            tilt = np.array([st.pitch_deg for st in styles], np.float64)
            if arousal is not None:
                amp = amp * (0.7 + 0.6 * np.clip(np.asarray(arousal, np.float64), 0.0, 1.0))
            amp = gaussian_filter1d(amp, 0.3 * fps, mode="nearest")
            tilt = gaussian_filter1d(tilt, 0.3 * fps, mode="nearest")
            pose[:, :3] *= amp[:, None].astype(np.float32)
            pose[:, 4] *= amp.astype(np.float32)
            pose[:, 0] += np.deg2rad(tilt).astype(np.float32)
    if opts.breathing and n > 0:
        # Breathing shows where the voice rests (speech carries its own rhythm): pauses and silent clips.
        from generators.speech.smoothing import gaussian_filter1d

        idle = 1.0 - gaussian_filter1d(np.asarray(activity, np.float64), 0.3 * fps, mode="nearest")
        pose += breathing_pose(breathing_curve(n, fps, rng_breath, opts), idle, opts)
    assert out.shape[1] == len(ARKIT_NAMES)
    return out, pose
