"""Fine-tune the speech model on a real talker's lips: GRID s1's audio against its tracked lip gap and jaw (seeded, CPU).

    python scripts/finetune_speech_real.py --tracks T.npz [--tracks ...] --audio WAVS [--audio ...] --out FOLDER

Starts from the shipped `SpeechToARKit` (the teacher, frozen) and trains a copy (the student) on every clip of
the tracks files whose audio <AUDIO>/<clip id>.wav exists (`scripts/track_lips.py` writes both). The loss:

1. **lips**, per clip: 1 - Pearson r between the head's inner-lip gap implied by the student's 52 weights and
   the person's gap mapped onto the head (cm, eye-corner normalised; `realism.RealClip.on_head`, resampled to the
   model's 50 Hz), plus half that for the jaw opening (chin to nose base), plus a scale term (log of our p90
   gap over the person's, over voiced frames, squared). The gap is computed in torch from the head's landmark
   vertices (`avatar.head`, as `realism.head_tracks` does) after the same steps `talking.animate` applies to
   the model's weights (voice-activity gate, loudness gain on jawOpen, the parted rest posture), so what is
   trained is what the benchmark measures;
2. **distillation**: every output column other than the few that open the lips (`FREE`: jawOpen,
   mouthClose, mouthLowerDown*, mouthUpperUp*) and the bilabial-closure logit stay at the teacher's outputs
   (squared error on the sigmoid weights and on the closure probability), on the real clips and on
   synthetic clips of the training voices (espeak-ng and flite, never the held-out voices), where the free
   columns are held near the teacher too (weaker), so closures at p/b/m, f/v tucks and smiles stay as they were.

`--closure-only` trains the closure logit alone: every weight column is distilled to the teacher on every clip and
the lip, jaw and scale losses are off (the shipped flag was trained so on the real clips' aligned p/b/m, weights
README); `--closure-speech` adds real voices without lip tracks that teach the flag only.

A tenth of the clips (every clip whose index in name order is 0 mod 10) is held out for early stopping: the
epoch with the best mean gap r (best lag within +-133 ms, as the benchmark) on them is kept. Held-out
speakers (bench_realism's A, B, C) are never read here. Writes FOLDER/speech_to_arkit/ (a checkpoint as
`save_pretrained` writes it) and FOLDER/finetune_metrics.json; `benchmarks/bench_realism.py --compare-model`
and `benchmarks/bench_lipsync.py --compare-model` then judge it against the shipped one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avatar.rig import ARKIT_NAMES, index_of  # noqa: E402

FREE = ("jawOpen", "mouthClose", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight")
"""The columns that open the lips: the only ones the lip loss may move away from the teacher."""
FPS = 50.0  # the model's output rate
SYNTH_VOICES = ("en-us", "en", "en-gb-x-rp", "en-us-nyc")  # espeak-ng training voices (train_speech_model.VOICES_TRAIN)
SYNTH_FLITE = ("kal16", "slt", "awb")  # flite training voices (never rms, the held-out one)


def _item(samples: np.ndarray, config: dict) -> dict:
    """Return the model input and the animate() gates (activity, the speech gate with the config's
    `anticipation_s`, jaw gain) of one 16 kHz clip at FPS."""
    from generators.speech.audio import Audio
    from generators.speech.neural import log_mel
    from generators.speech.talking import frame_activity, loudness_gain, speech_gate

    audio = Audio(samples.astype(np.float32), 16000)
    mel = log_mel(audio.samples, config)
    n = mel.shape[1] // 2
    act = frame_activity(audio, n, FPS)
    return {"mel": mel, "n": n, "act": act, "gate": speech_gate(act, FPS, float(config.get("anticipation_s", 0.0))),
            "gain": loudness_gain(audio, n, FPS)}


def pitch_shifted(samples: np.ndarray, cents: float) -> np.ndarray:
    """Return 16 kHz `samples` with pitch and formants moved by `cents` at the same tempo (sox's `pitch`).

    A voice an octave-third higher or lower with the same timing: the lips' track still fits it, and the model
    hears more voices than the few real speakers it is trained on (speaker augmentation).
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "a.wav", Path(tmp) / "b.wav"
        sf.write(src, samples.astype(np.float32), 16000, subtype="FLOAT")
        subprocess.run(["sox", str(src), str(dst), "pitch", f"{cents:.0f}", "rate", "16000"], check=True, capture_output=True)
        out, _ = sf.read(dst, dtype="float32")
    return out[: len(samples)] if len(out) >= len(samples) else np.pad(out, (0, len(samples) - len(out)))


def closure_labels(samples: np.ndarray, text: str, n: int) -> np.ndarray | None:
    """Return the (n,) float32 bilabial-closure labels at FPS of a real clip from its transcript's forced
    alignment (the phonetic path's p/b/m with their margins, as the synthetic labels were made), or None
    when there is no transcript or it does not align."""
    import warnings

    from generators.speech.audio import Audio
    from generators.speech.phonetic import aligned_phones
    from generators.speech.visemes import bilabial_frames

    if not text.strip():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a failed alignment falls back to recognition: no labels then
        phones, aligned = aligned_phones(Audio(samples.astype(np.float32), 16000), text)
    return bilabial_frames(phones, FPS, n).astype(np.float32) if aligned else None


def noisy_copy(samples: np.ndarray, rng: np.random.Generator, snr: tuple[float, float], reverb_p: float,
               voices: list[np.ndarray]) -> np.ndarray:
    """Return a 16 kHz copy of `samples` as a camera or phone might record it (seeded by `rng`): with probability
    `reverb_p` through a room (sox reverb, reverberance 20-80), then white, pink, brown or babble noise (`voices`:
    other talkers) at an SNR drawn uniformly from `snr` (dB). The timing is unchanged, so the lips' track still fits."""
    from generators.speech.noise import add_noise, reverberate

    out = samples
    if rng.random() < reverb_p:
        out = reverberate(out, 16000, float(rng.uniform(20.0, 80.0)))
    kinds = ("white", "pink", "brown", "babble") if voices else ("white", "pink", "brown")
    return add_noise(out, 16000, str(rng.choice(kinds)), float(rng.uniform(*snr)), rng, voices)


def real_items(tracks: list[str], audio_dirs: list[str], config: dict, eye_cm: float, augment: int = 0,
               max_cents: float = 0.0, seed: int = 0, closures: bool = False, noise: int = 0,
               snr: tuple[float, float] = (5.0, 35.0), reverb_p: float = 0.5) -> list[dict]:
    """Return one training item per tracked clip with audio (features, gates, the person's gap/jaw in cm at FPS),
    plus `augment` pitch-shifted copies of each (up to +-`max_cents`, seeded; names end in "~k") and `noise`
    noisy copies (`noisy_copy`, babble from other speakers' clips; names end in "~nk"); with `closures`, each
    carries its transcript's bilabial-closure labels ("closure", or None)."""
    from generators.speech.audio import load_audio
    from generators.speech.realism import load_clips, resample_track

    rng = np.random.default_rng(seed + 17)
    noise_rng = np.random.default_rng(seed + 29)  # its own stream: adding noisy copies leaves the pitch copies as they were

    seen, clips = set(), []
    for t in tracks:
        for clip in load_clips(t):
            stem = clip.name.split("/")[-1]
            if stem in seen:
                continue
            wav = next((Path(d) / f"{stem}{ext}" for d in audio_dirs for ext in (".wav", ".flac")
                        if (Path(d) / f"{stem}{ext}").is_file()), None)
            if wav is None:
                continue
            seen.add(stem)
            clips.append((clip, load_audio(str(wav)).samples))
    out = []
    for clip, samples in clips:
        gap, jaw = clip.on_head(eye_cm)
        labels = closure_labels(samples, clip.text, _item(samples, config)["n"]) if closures else None
        copies = []
        for k in range(1 + augment):
            if k:
                cents = float(rng.uniform(0.25, 1.0) * max_cents * rng.choice([-1.0, 1.0]))
                copies.append((f"~{k}", pitch_shifted(samples, cents)))
            else:
                copies.append(("", samples))
        if noise:
            others = [s for c, s in clips if c.speaker != clip.speaker] or [s for c, s in clips if c is not clip]
            for k in range(1, noise + 1):
                copies.append((f"~n{k}", noisy_copy(samples, noise_rng, snr, reverb_p, others)))
        for suffix, audio in copies:
            it = _item(audio, config)
            it.update(name=clip.name + suffix, speaker=clip.speaker,
                      gap=resample_track(gap, clip.fps, it["n"], FPS).astype(np.float32),
                      jaw=resample_track(jaw, clip.fps, it["n"], FPS).astype(np.float32), real=True,
                      closure=labels)  # a pitch-shifted or noisy copy keeps the timing, so the labels
            out.append(it)
    return sorted(out, key=lambda d: d["name"])


def closure_speech_items(tsv: str, audio_dir: str, config: dict) -> list[dict]:
    """Return one item per line of a transcripts `tsv` (file stem, speaker, text) whose <audio_dir>/<stem>.wav exists
    and whose transcript aligns: real voices without lip tracks, which teach only the closure flag (their p/b/m
    frames) while every other output stays near the teacher."""
    from generators.speech.audio import load_audio

    out = []
    for line in Path(tsv).read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0] == "stem":
            continue
        stem, speaker, text = parts[0], parts[1], parts[2]
        wav = Path(audio_dir) / f"{stem}.wav"
        if not wav.is_file():
            continue
        samples = load_audio(str(wav)).samples
        it = _item(samples, config)
        labels = closure_labels(samples, text, it["n"])
        if labels is None:
            continue
        it.update(name=f"speech/{stem}", speaker=speaker, real=False, closure=labels)
        out.append(it)
    return out


def flag_agreement(logit: np.ndarray, labels: np.ndarray) -> tuple[int, int, int, int]:
    """Return (flag runs on a labelled closure, flag runs, labelled closures flagged, labelled closures) of a
    (T,) closure `logit` (> 0 is the flag) against (T,) 0/1 `labels`: a run counts when it overlaps the other
    within one frame."""
    from generators.speech.closure import _runs

    flag, lab = np.asarray(logit) > 0, np.asarray(labels) > 0.5
    pred, true = _runs(flag), _runs(lab)
    g_lab, g_flag = (np.convolve(m.astype(float), np.ones(3), "same") > 0 for m in (lab, flag))  # one frame either side
    return (sum(g_lab[a:b].any() for a, b in pred), len(pred), sum(g_flag[a:b].any() for a, b in true), len(true))


def speaker_repeats(items: list[dict]) -> np.ndarray:
    """Return how many times each item is drawn per epoch: sqrt(largest speaker's count / its speaker's), rounded.

    A speaker with 50 clips beside one with 400 is drawn ~3x per epoch: heard more, without the 8x that would
    let the model learn that one speaker's 50 clips by heart.
    """
    from collections import Counter

    count = Counter(it["speaker"] for it in items)
    top = max(count.values())
    return np.array([max(1, round(float(np.sqrt(top / count[it["speaker"]])))) for it in items])


def synthetic_items(n: int, seed: int, config: dict, closures: bool = False) -> list[dict]:
    """Return `n` synthetic clips (espeak-ng / flite training voices, random sentences) for distillation; with
    `closures`, each carries its sentence's aligned p/b/m frames ("closure"), which the flag then learns instead of
    the teacher's flag."""
    from generators.speech.audio import load_audio

    sys.path.insert(0, str(ROOT / "scripts"))
    from train_speech_model import WORDS, make_sentence

    rng = np.random.default_rng(seed)
    words = list(WORDS)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n):
            text = make_sentence(rng, words)
            path = Path(tmp) / f"s{k}.wav"
            if k % 2 == 0:
                cmd = ["espeak-ng", "-v", SYNTH_VOICES[k // 2 % len(SYNTH_VOICES)], "-s", str(int(rng.integers(130, 221))),
                       "-w", str(path), text]
            else:
                cmd = ["flite", "-voice", SYNTH_FLITE[k // 2 % len(SYNTH_FLITE)], "-t", text, "-o", str(path)]
            try:
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError):
                continue  # a missing synthesiser only thins the distillation set
            samples = load_audio(str(path)).samples
            it = _item(samples, config)
            it.update(name=f"synth/{k}", real=False, closure=closure_labels(samples, text, it["n"]) if closures else None)
            out.append(it)
    return out


class LipGeometry:
    """The head's inner-lip gap and jaw opening (cm) as torch functions of (..., 52) weights (`realism.head_tracks`)."""

    def __init__(self) -> None:
        import torch

        from avatar.head import default_head
        from generators.speech.realism import CHIN, EYE_CORNERS, INNER_LIP_MID, NOSE_BASE

        head = default_head()
        lm = head.landmarks68
        idx = [int(lm[i]) for i in (*INNER_LIP_MID, CHIN, NOSE_BASE)]
        self.p0 = torch.tensor(np.asarray(head.neutral[idx], np.float32))  # (4, 3)
        self.d = torch.tensor(np.asarray(head.deltas[:, idx], np.float32))  # (52, 4, 3)
        self.jaw0 = float(np.linalg.norm(head.neutral[idx[2]] - head.neutral[idx[3]]))
        self.eye_cm = float(np.linalg.norm(head.neutral[int(lm[EYE_CORNERS[0]])] - head.neutral[int(lm[EYE_CORNERS[1]])]))

    def __call__(self, w):  # noqa: ANN001, ANN204 - torch tensors
        import torch

        p = self.p0 + torch.einsum("...k,kpc->...pc", w, self.d)
        gap = torch.linalg.norm(p[..., 0, :] - p[..., 1, :] + 1e-9, dim=-1)
        jaw = torch.linalg.norm(p[..., 2, :] - p[..., 3, :] + 1e-9, dim=-1) - self.jaw0
        return gap, jaw


def opening_multiplier(config: dict):  # noqa: ANN201 - a torch tensor
    """Return the (52,) factors of the checkpoint's `opening_gain` (`net_numpy.apply_opening_gain`): gain on the
    lip-opening shapes, 1 elsewhere, so the loss sees the amplitude `animate` will show."""
    import torch

    from generators.speech.net_numpy import OPENING_SHAPES

    gain = float(config.get("opening_gain", 1.0))
    return torch.tensor([gain if n in OPENING_SHAPES else 1.0 for n in ARKIT_NAMES], dtype=torch.float32)


def pipeline_weights(logits, gate, gain, opening, pause):  # noqa: ANN001, ANN201 - torch tensors
    """Return the (B, T, 52) weights `talking.animate` makes of the model's logits (opening gain, speech gate, jaw
    gain, rest posture with `pause` (B, T) frames' mouthClose capped as `visemes.rest_posture` does)."""
    import torch

    from generators.speech.visemes import REST_JAW_OPEN

    w = torch.clamp(torch.sigmoid(logits[..., :52]) * opening, max=1.0) * gate[..., None]
    j, c = index_of("jawOpen"), index_of("mouthClose")
    jaw = torch.clamp(w[..., j] * gain, min=REST_JAW_OPEN)
    close = torch.where(pause > 0, torch.minimum(w[..., c], jaw - REST_JAW_OPEN), w[..., c])
    cols = [w[..., k] for k in range(52)]
    cols[j], cols[c] = jaw, close
    return torch.stack(cols, dim=-1)


def pearson(a, b, mask):  # noqa: ANN001, ANN201 - torch tensors (B, T)
    """Return (B,) Pearson r of a and b over the masked frames of each row."""
    import torch

    n = mask.sum(-1).clamp(min=2)
    ma = (a * mask).sum(-1, keepdim=True) / n[:, None]
    mb = (b * mask).sum(-1, keepdim=True) / n[:, None]
    da, db = (a - ma) * mask, (b - mb) * mask
    return (da * db).sum(-1) / torch.sqrt((da ** 2).sum(-1) * (db ** 2).sum(-1) + 1e-8)


def batch(items: list[dict], teacher_out: dict):  # noqa: ANN201
    """Return padded torch tensors of a list of items (mel, mask, act, gain, teacher outputs, targets)."""
    import torch

    n = max(it["n"] for it in items)
    B = len(items)
    mel = np.zeros((B, items[0]["mel"].shape[0], 2 * n), np.float32)
    mask, gate, gain = np.zeros((B, n), np.float32), np.zeros((B, n), np.float32), np.ones((B, n), np.float32)
    pause = np.zeros((B, n), np.float32)
    gap, jaw, voiced, teach = np.zeros((B, n), np.float32), np.zeros((B, n), np.float32), np.zeros((B, n), np.float32), \
        np.zeros((B, n, 53), np.float32)
    for b, it in enumerate(items):
        k = it["n"]
        mel[b, :, : it["mel"].shape[1]] = it["mel"][:, : 2 * n]
        mask[b, :k], gate[b, :k], gain[b, :k], pause[b, :k] = 1, it["gate"], it["gain"], it["act"][:k] <= 0.5
        teach[b, :k] = teacher_out[it["name"]][:k]
        if it["real"]:
            gap[b, :k], jaw[b, :k], voiced[b, :k] = it["gap"], it["jaw"], it["act"] > 0.5
    t = {k: torch.from_numpy(v) for k, v in dict(mel=mel, mask=mask, gate=gate, gain=gain, pause=pause,
                                                  gap=gap, jaw=jaw, voiced=voiced, teach=teach).items()}
    t["real"] = torch.tensor([float(it["real"]) for it in items])
    clo, has = np.zeros((B, n), np.float32), np.zeros(B, np.float32)
    for b, it in enumerate(items):
        if it.get("closure") is not None:
            clo[b, : it["n"]], has[b] = it["closure"][: it["n"]], 1.0
    t["closure"], t["has_closure"] = torch.from_numpy(clo), torch.from_numpy(has)
    return t


def loss_terms(model, t: dict, geo: LipGeometry, free_mask, cfg: argparse.Namespace) -> dict:  # noqa: ANN001
    """Return the loss terms of one batch (lip correlation, jaw correlation, p90 scale, distillation)."""
    import torch

    out = model(t["mel"])[:, : t["mask"].shape[1]]
    n = out.shape[1]
    mask = t["mask"][:, :n]
    w = pipeline_weights(out, t["gate"][:, :n], t["gain"][:, :n], opening_multiplier(model.config), t["pause"][:, :n])
    gap, jaw = geo(w)
    real = t["real"]
    terms = {}
    if real.sum() > 0:
        r_gap = pearson(gap, t["gap"][:, :n], mask)
        r_jaw = pearson(jaw, t["jaw"][:, :n], mask)
        terms["lip"] = ((1 - r_gap) * real).sum() / real.sum()
        terms["jaw"] = ((1 - r_jaw) * real).sum() / real.sum()
        scale = []
        for b in torch.nonzero(real).flatten().tolist():
            v = t["voiced"][b, :n] > 0
            if v.sum() < 5:
                continue
            scale.append(torch.log(torch.quantile(gap[b, v], 0.9) / torch.quantile(t["gap"][b, :n][v], 0.9).clamp(min=1e-3)) ** 2)
        terms["scale"] = torch.stack(scale).mean() if scale else out.sum() * 0
    ws, wt = torch.sigmoid(out[..., :52]), torch.sigmoid(t["teach"][:, :n, :52])
    cs, ct = torch.sigmoid(out[..., 52]), torch.sigmoid(t["teach"][:, :n, 52])
    if cfg.closure_only:  # every weight column stays the teacher's: only the closure logit learns
        col = torch.ones_like(free_mask, dtype=out.dtype)
    else:
        col = torch.where(free_mask, torch.where(real[:, None, None] > 0, 0.0, cfg.free_distill), 1.0)  # (B, 1, 52)
    has = t["has_closure"][:, None]  # a real clip with aligned p/b/m learns its closures, not the teacher's
    err = ((ws - wt) ** 2 * col).sum(-1) + cfg.closure_weight * (cs - ct) ** 2 * (1.0 - has)
    terms["distill"] = (err * mask).sum() / mask.sum()
    if float(has.sum()) > 0:
        bce = torch.nn.functional.binary_cross_entropy_with_logits(out[..., 52], t["closure"][:, :n], reduction="none")
        terms["closure"] = (bce * mask * has).sum() / (mask * has).sum()
    return terms


def val_r(model, items: list[dict], geo: LipGeometry, counts: list | None = None) -> float:  # noqa: ANN001
    """Return the mean gap r (best lag within +-133 ms) of `model` on real `items`, at FPS, as the benchmark scores it.

    `counts`, when given, receives the closure flag's `flag_agreement` summed over the items with closure labels.
    """
    import torch

    from generators.speech.realism import best_lag_r

    rs = []
    tally = np.zeros(4, int)
    with torch.no_grad():
        for it in items:
            out = model(torch.from_numpy(it["mel"][None]))[:, : it["n"]]
            if it.get("closure") is not None:
                tally += np.array(flag_agreement(out[0, :, 52].numpy(), it["closure"][: it["n"]]))
            w = pipeline_weights(out, torch.from_numpy(it["gate"][None]), torch.from_numpy(it["gain"][None]),
                                 opening_multiplier(model.config), torch.from_numpy((it["act"] <= 0.5)[None].astype(np.float32)))
            gap, _ = geo(w)
            rs.append(best_lag_r(gap[0].numpy(), it["gap"], FPS)[0])
    if counts is not None:
        counts[:] = list(tally)
    return float(np.nanmean(rs))


def closure_scores(counts: list) -> dict:
    """Return the closure flag's precision, recall and F1 of `flag_agreement` counts."""
    hit_p, n_p, hit_t, n_t = counts
    p, r = hit_p / max(n_p, 1), hit_t / max(n_t, 1)
    return {"val_flag_precision": p, "val_flag_recall": r, "val_flag_f1": 2 * p * r / max(p + r, 1e-9)}


def save(model, args: argparse.Namespace, best: tuple, history: list, train: list, val: list, synth: list,  # noqa: ANN001
         seconds: float) -> None:
    """Write `model` to <out>/speech_to_arkit/ (teacher's metrics.json carried along) and <out>/finetune_metrics.json."""
    import shutil

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "speech_to_arkit.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    if (Path(args.init) / "metrics.json").is_file():
        shutil.copy(Path(args.init) / "metrics.json", tmp / "metrics.json")
    final = out / "speech_to_arkit"
    if final.exists():
        shutil.rmtree(final)
    tmp.replace(final)
    kept = history[best[2]]  # history[k] is epoch k
    metrics = {"seed": args.seed, "best_epoch": best[2], "selected_by": args.select, "val_gap_r_best": kept["val_gap_r"],
               "val_flag_f1_best": kept.get("val_flag_f1"), "val_gap_r_start": history[0]["val_gap_r"],
               "train_clips": [it["name"] for it in train], "val_clips": [it["name"] for it in val],
               "synthetic_clips": len(synth), "train_minutes": sum(i["n"] for i in train) / FPS / 60,
               "history": history, "args": dict(vars(args)), "seconds": seconds}
    mtmp = out / "finetune_metrics.json.tmp"
    mtmp.write_text(json.dumps(metrics, indent=1))
    mtmp.replace(out / "finetune_metrics.json")


def _snr_range(text: str) -> tuple[float, float]:
    """Return (lo, hi) dB from "LO,HI" (argparse type)."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"SNR range must be LO,HI in dB (e.g. 5,35), got {text!r}") from None
    if lo > hi:
        raise argparse.ArgumentTypeError(f"SNR range {text!r}: LO must not exceed HI")
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    import torch

    from generators.speech.neural import SpeechToARKit
    from generators.speech.shipped import DEFAULT_WEIGHTS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", action="append", required=True, help="tracks .npz of the training speaker (repeatable)")
    ap.add_argument("--audio", action="append", required=True, help="folder of <clip id>.wav (repeatable)")
    ap.add_argument("--init", default=str(DEFAULT_WEIGHTS), help="teacher / starting checkpoint folder")
    ap.add_argument("--out", required=True, help="folder to write speech_to_arkit/ and finetune_metrics.json into")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--synthetic", type=int, default=40, help="synthetic distillation clips")
    ap.add_argument("--lip-weight", type=float, default=1.0)
    ap.add_argument("--jaw-weight", type=float, default=0.5)
    ap.add_argument("--scale-weight", type=float, default=0.5)
    ap.add_argument("--distill-weight", type=float, default=20.0)
    ap.add_argument("--closure-weight", type=float, default=2.0, help="closure probability vs the weights' columns")
    ap.add_argument("--free-distill", type=float, default=0.3, help="free columns' distillation weight on synthetic clips")
    ap.add_argument("--val-tracks", action="append", default=[],
                    help="tracks .npz of other speakers to early-stop on (repeatable; default: every tenth training clip)")
    ap.add_argument("--augment", type=int, default=0, help="pitch-shifted copies of each training clip (sox)")
    ap.add_argument("--augment-cents", type=float, default=300.0, help="largest pitch/formant shift of a copy, in cents")
    ap.add_argument("--noise", type=int, default=0,
                    help="noisy copies of each training clip: room reverb (sox) and white/pink/brown/babble noise, so the "
                         "model hears takes recorded as a camera or phone records them (generators/speech/noise.py)")
    ap.add_argument("--noise-snr", type=_snr_range, default=(5.0, 35.0), help="SNR range of those copies in dB, LO,HI")
    ap.add_argument("--noise-reverb", type=float, default=0.5, help="share of the noisy copies also put through a room")
    ap.add_argument("--val-noise", type=int, default=0,
                    help="noisy copies of each validation clip (another seed), scored with the clean ones for the epoch "
                         "kept: the model chosen must follow people in noisy takes too")
    ap.add_argument("--balance-speakers", action="store_true",
                    help="draw a speaker with fewer clips more often (sqrt of the count ratio)")
    ap.add_argument("--anticipation-s", type=float, default=None,
                    help="let the model's mouth through this long before each voice onset and learn when people part "
                         "their lips before speaking (written to the checkpoint's config; default: the starting model's)")
    ap.add_argument("--real-closures", action="store_true",
                    help="learn the closure flag on the real clips from their transcripts' aligned p/b/m (else the "
                         "flag is held at the teacher's)")
    ap.add_argument("--real-closure-weight", type=float, default=0.5, help="weight of that closure loss (BCE)")
    ap.add_argument("--closure-speech", default=None,
                    help="transcripts .tsv (stem, speaker, text) of real voices without lip tracks: they teach the "
                         "closure flag only (their aligned p/b/m), so it meets more voices than the tracked speakers'")
    ap.add_argument("--closure-speech-audio", default=None, help="folder of <stem>.wav of --closure-speech")
    ap.add_argument("--closure-speech-per-batch", type=int, default=4, help="such clips in each batch")
    ap.add_argument("--synthetic-closures", action="store_true",
                    help="the synthetic clips' closure flag learns their sentences' aligned p/b/m (else the teacher's)")
    ap.add_argument("--closure-only", action="store_true",
                    help="train the closure flag only: every weight column is distilled to the teacher on every clip "
                         "and the lip, jaw and scale losses are off, so the mouth stays the starting model's")
    ap.add_argument("--select", choices=("r", "r+f1"), default="r",
                    help="epoch kept: the best validation gap r, or r + the validation speakers' closure-flag F1")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.closure_only:
        args.lip_weight = args.jaw_weight = args.scale_weight = 0.0
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    teacher = SpeechToARKit.from_pretrained(args.init).eval()
    student = SpeechToARKit.from_pretrained(args.init).train()
    if args.anticipation_s is not None:
        student.register_to_config(anticipation_s=float(args.anticipation_s))
    config = dict(student.config)
    geo = LipGeometry()
    if args.val_tracks:
        # Early stopping on speakers the training never hears: the epoch kept is the one that generalises.
        train = real_items(args.tracks, args.audio, config, geo.eye_cm, args.augment, args.augment_cents, args.seed,
                           closures=args.real_closures, noise=args.noise, snr=args.noise_snr, reverb_p=args.noise_reverb)
        val = real_items(args.val_tracks, args.audio, config, geo.eye_cm, closures=True, seed=args.seed + 1000,
                         noise=args.val_noise, snr=args.noise_snr, reverb_p=args.noise_reverb)
        real = train + val
    else:
        real = real_items(args.tracks, args.audio, config, geo.eye_cm, closures=args.real_closures)
        val = [it for k, it in enumerate(real) if k % 10 == 0]
        train = [it for k, it in enumerate(real) if k % 10 != 0]
        if args.augment:
            held = {it["name"] for it in val}
            train = [it for it in real_items(args.tracks, args.audio, config, geo.eye_cm, args.augment, args.augment_cents,
                                             args.seed, closures=args.real_closures) if it["name"].split("~")[0] not in held]
            real = train + val
    if len(train) < 10 or not val:
        print(f"error: only {len(train)} training and {len(val)} validation clips have audio; pass the --audio folder "
              "track_lips.py --wav-dir wrote", file=sys.stderr)
        return 2
    repeats = speaker_repeats(train) if args.balance_speakers else np.ones(len(train), int)
    synth = synthetic_items(args.synthetic, args.seed, config, closures=args.synthetic_closures)
    speech = (closure_speech_items(args.closure_speech, args.closure_speech_audio or str(Path(args.closure_speech).parent),
                                   config) if args.closure_speech else [])
    with torch.no_grad():
        teacher_out = {it["name"]: teacher(torch.from_numpy(it["mel"][None]))[0, : it["n"]].numpy()
                       for it in real + synth + speech}
    free = torch.zeros(52, dtype=torch.bool)
    for name in FREE:
        free[index_of(name)] = True
    free_mask = free[None, None]
    print(f"{len(train)} train, {len(val)} val real clips ({sum(i['n'] for i in real) / FPS / 60:.1f} min), "
          f"{len(synth)} synthetic, {len(speech)} closure-only real ({len({i['speaker'] for i in speech})} voices); "
          f"data {time.time() - t0:.0f} s", flush=True)
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)

    def evaluate(epoch: int) -> dict:
        counts: list = [0, 0, 0, 0]
        rec = {"epoch": epoch, "val_gap_r": val_r(student.eval(), val, geo, counts), **closure_scores(counts)}
        rec["selected_by"] = rec["val_gap_r"] + (rec["val_flag_f1"] if args.select == "r+f1" else 0.0)
        return rec

    history = [evaluate(0)]
    print(history[0], flush=True)
    best = (history[0]["selected_by"], {k: v.clone() for k, v in student.state_dict().items()}, 0)
    synth_per_batch = max(1, args.batch // 4) if synth else 0
    speech_per_batch = min(args.closure_speech_per_batch, len(speech))
    for epoch in range(1, args.epochs + 1):
        student.train()
        order = rng.permutation(np.repeat(np.arange(len(train)), repeats))
        sums: dict[str, float] = {}
        steps = 0
        real_per_batch = args.batch - synth_per_batch - speech_per_batch
        for s in range(0, len(order), real_per_batch):
            items = [train[j] for j in order[s: s + real_per_batch]]
            if synth_per_batch:
                items += [synth[j] for j in rng.choice(len(synth), synth_per_batch, replace=False)]
            if speech_per_batch:
                items += [speech[j] for j in rng.choice(len(speech), speech_per_batch, replace=False)]
            t = batch(items, teacher_out)
            terms = loss_terms(student, t, geo, free_mask, args)
            loss = (args.lip_weight * terms["lip"] + args.jaw_weight * terms["jaw"] + args.scale_weight * terms["scale"]
                    + args.distill_weight * terms["distill"] + args.real_closure_weight * terms.get("closure", 0.0))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
            steps += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        rec = {**evaluate(epoch), **{k: v / steps for k, v in sums.items()}}
        history.append(rec)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rec.items()}),
              f"{time.time() - t0:.0f} s", flush=True)
        if rec["selected_by"] > best[0]:
            best = (rec["selected_by"], {k: v.clone() for k, v in student.state_dict().items()}, epoch)
            save(student, args, best, history, train, val, synth, time.time() - t0)  # a stopped run keeps its best
    student.load_state_dict(best[1])
    save(student, args, best, history, train, val, synth, time.time() - t0)
    print(f"best epoch {best[2]}: {args.select} {best[0]:.3f} (start {history[0]['selected_by']:.3f}); wrote {args.out}/speech_to_arkit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
