"""Train the neural speech -> ARKit model on espeak-ng speech labelled by the phonetic path (seeded, CPU).

Recipe (every choice is a flag; the defaults produced the shipped weights):
1. sentences: random word strings from a built-in list of common English words (bilabial- and
   rounding-rich), 4-14 words, commas inserted for pauses; a disjoint sentence set for the held-out split;
2. speech: espeak-ng with many voices x variants, speaking rates 120-230 wpm, pitch 20-80, word gaps,
   30% time-stretched by sox tempo 0.85-1.2 *before* alignment (so labels follow the new timing);
   the held-out split uses voices and variants never seen in training;
3. labels: the phonetic path with the transcript (pocketsphinx forced alignment -> coarticulated visemes ->
   voice-activity gate -> bilabial closure) at 50 Hz: 52 weights + a closure flag per frame;
4. augmentation (timing-preserving, so the labels stay valid): sox pitch shift (±300 cents), sox reverb,
   additive white/pink noise at 10-35 dB SNR, random gain;
5. model: `generators.speech.neural.SpeechToARKit` (conv front end, 60 ms look-ahead, GRU), Adam, L1 on the
   mouth/jaw columns + BCE on the closure flag, random 4 s crops.

Run (about 30 min on 2 shared cores):
    nice -n 10 python scripts/train_speech_model.py --out generators/speech/weights
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.rig import index_of  # noqa: E402
from generators.speech.audio import Audio, load_audio  # noqa: E402
from generators.speech.neural import SpeechToARKit, log_mel  # noqa: E402
from generators.speech.phonetic import align, normalize_transcript  # noqa: E402
from generators.speech.talking import frame_activity, loudness_gain  # noqa: E402
from generators.speech.visemes import SPEECH_COLUMNS, bilabial_frames, close_lips, default_lip_model, speech_weights  # noqa: E402

WORDS = """
a about above across after again air all almost along also always am an and animal another answer any
apple are around as ask at away back ball be bear beautiful because bed been before began begin behind
believe below best better between big bird black blue boat bob body book both box boy bread bring brother
brown build busy but buy by call came can car carry cat change child city close cold come could country
cut dark day deep did different do does dog door down draw dream drink during each early earth eat
end enough even every eye face fall family far father feel few field find fire first fish five food
foot for found four free friend from full game gave get girl give go good got great green group grow
had half hand happy hard has have he hear heavy help her here high him his hold home hope horse hot
house how hundred i idea if important in inside into is it its just keep kind king knew know land
large last late laugh lay learn leave left less let letter life light like line listen little live
long look lost love low made make man many map maybe me mean men might mile mind minute miss money
month moon more morning most mother mountain move much music must my name near need never new next
nice night no north not nothing now number of off often oh old on once one only open or other our
out over own page paper part party people perhaps person picture piece place plan plant play please
point poor possible power pretty probably problem pull push put question quick quiet rain ran read
ready real red remember rest right river road rock room round run said same saw say school sea second
see seem sentence set she ship shoe short should show side simple since sing sister sit six size sleep
slow small smile snow so some something sometimes song soon sound south speak special spring stand
star start stay step still stop story street strong study such summer sun sure table take talk tall
tell ten than thank that the their them then there these they thing think this those though thought
three through time to today together told too took top toward town tree true try turn two under
until up upon us use very voice wait walk want warm was watch water way we wear weather week well
went were what when where which while white who whole why wide will window winter with without woman
wonder word work world would write year yes yet you young your zoo
baby bubble map mop maybe pepper puppy bump pump bomb lamp bob papa mama problem umbrella
pool boot moon shoe blue few view move who through food you two too
""".split()

VOICES_TRAIN = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan"]
VOICES_TEST = ["en-gb-x-gbcwmd"]
VARIANTS_TRAIN = ["", "+m1", "+m2", "+m3", "+m4", "+f1", "+f2", "+f3", "+klatt", "+klatt2", "+Andy", "+Annie",
                  "+belinda", "+david", "+edward", "+grandma", "+adam", "+anika", "+caleb", "+f5"]
VARIANTS_TEST = ["+m7", "+f4", "+Alicia", "+benjamin"]

# The feature settings (sample rate, FFT, hop, mel bands) of the model this script trains.
FEATURES = dict(SpeechToARKit().config)
LABEL_FPS = 50.0  # the model's output rate: 100 Hz features, stride 2


def make_sentence(rng: np.random.Generator, words: list[str]) -> str:
    """Return a random word string with occasional commas (pauses)."""
    n = int(rng.integers(4, 15))
    out = []
    for i in range(n):
        w = words[int(rng.integers(len(words)))]
        out.append(w + ("," if i < n - 1 and rng.random() < 0.12 else ""))
    return " ".join(out)


def synthesize(text: str, voice: str, rate: int, pitch: int, gap: int, path: Path) -> None:
    """Write espeak-ng speech for `text` to `path` (list args, no shell)."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-g", str(gap), "-w", str(path), text],
                   check=True, capture_output=True, timeout=60)


def sox(src: Path, dst: Path, *effects: str) -> None:
    """Run sox with effects (list args, no shell)."""
    subprocess.run(["sox", str(src), "-r", "16000", "-c", "1", str(dst), *effects], check=True, capture_output=True, timeout=60)


def labels_for(audio: Audio, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (T, 52) target weights and (T,) closure flags at LABEL_FPS from the phonetic path."""
    phones = align(audio, normalize_transcript(text))
    n = int(np.ceil(audio.duration * LABEL_FPS))
    w = speech_weights(phones, LABEL_FPS, n)
    w *= frame_activity(audio, n, LABEL_FPS)[:, None]
    w[:, index_of("jawOpen")] *= loudness_gain(audio, n, LABEL_FPS)
    shut = bilabial_frames(phones, LABEL_FPS, n)
    return close_lips(w, shut), shut


def augment(clean: Path, dst: Path, rng: np.random.Generator, tmp: Path) -> np.ndarray:
    """Return 16 kHz samples of `clean` with random timing-preserving augmentation (pitch, reverb, noise, gain)."""
    effects: list[str] = []
    if rng.random() < 0.5:
        effects += ["pitch", str(int(rng.integers(-300, 301)))]
    if rng.random() < 0.5:
        effects += ["reverb", str(int(rng.integers(10, 70))), "50", str(int(rng.integers(20, 100)))]
    if effects:
        sox(clean, dst, *effects)
        y = load_audio(dst, max_seconds=120, silence_dbfs=-90).samples
        y = y[: len(load_audio(clean, max_seconds=120, silence_dbfs=-90).samples)]  # reverb tails add samples
    else:
        y = load_audio(clean, max_seconds=120, silence_dbfs=-90).samples
    if rng.random() < 0.7:
        snr = rng.uniform(10, 35)
        noise = rng.standard_normal(len(y)).astype(np.float32)
        if rng.random() < 0.5:  # pink-ish: integrate white noise a little
            noise = np.cumsum(noise) * 0.05
            noise -= np.convolve(noise, np.ones(400) / 400, mode="same")
        p_sig = float(np.mean(y ** 2)) + 1e-9
        noise *= np.sqrt(p_sig / (10 ** (snr / 10)) / (float(np.mean(noise ** 2)) + 1e-12))
        y = y + noise
    y = y * rng.uniform(0.3, 1.0) / max(float(np.abs(y).max()), 1e-6)
    return y.astype(np.float32)


def build_split(n: int, voices: list[str], variants: list[str], rng: np.random.Generator, tmp: Path,
                augment_copies: int, log_every: int = 50) -> list[dict]:
    """Return utterances: dicts with log-mel features, 50 Hz targets, closure flags, and their recipe."""
    items = []
    t0 = time.time()
    for i in range(n):
        text = make_sentence(rng, WORDS)
        voice = voices[int(rng.integers(len(voices)))] + variants[int(rng.integers(len(variants)))]
        rate, pitch, gap = int(rng.integers(120, 231)), int(rng.integers(20, 81)), int(rng.integers(0, 6))
        raw, clean = tmp / "raw.wav", tmp / "clean.wav"
        try:
            synthesize(text, voice, rate, pitch, gap, raw)
            tempo = float(rng.uniform(0.85, 1.2)) if rng.random() < 0.3 else 1.0
            sox(raw, clean, *(["tempo", f"{tempo:.3f}"] if tempo != 1.0 else []))
            audio = load_audio(clean, max_seconds=120)
            target, shut = labels_for(audio, text)
        except Exception as exc:  # a voice that fails to synthesise or a clip that does not align: skip it
            print(f"  skip {i}: {type(exc).__name__}: {str(exc)[:80]}", flush=True)
            continue
        recipe = {"text": text, "voice": voice, "rate": rate, "pitch": pitch, "gap": gap, "tempo": tempo}
        versions = [audio.samples] + [augment(clean, tmp / "aug.wav", rng, tmp) for _ in range(augment_copies)]
        for k, y in enumerate(versions):
            items.append({"mel": log_mel(y, FEATURES), "target": target, "shut": shut,
                          "recipe": {**recipe, "augmented": k > 0}})
        if (i + 1) % log_every == 0:
            print(f"  {i + 1}/{n} utterances, {time.time() - t0:.0f} s", flush=True)
    return items


def batches(items: list[dict], rng: np.random.Generator, batch: int, crop_frames: int):  # noqa: ANN201
    """Yield (mel (B, M, 2C), target (B, C, 52), shut (B, C), mask (B, C)) random crops, C output frames."""
    import torch

    order = rng.permutation(len(items))
    for s in range(0, len(order) - batch + 1, batch):
        mels, tgts, shuts, masks = [], [], [], []
        for j in order[s : s + batch]:
            it = items[j]
            n_out = min(len(it["target"]), it["mel"].shape[1] // 2)
            start = int(rng.integers(0, max(1, n_out - crop_frames + 1)))
            c = min(crop_frames, n_out - start)
            m = np.zeros((it["mel"].shape[0], 2 * crop_frames), np.float32)
            m[:, : 2 * c] = it["mel"][:, 2 * start : 2 * (start + c)]
            t = np.zeros((crop_frames, 52), np.float32)
            t[:c] = it["target"][start : start + c]
            sh = np.zeros(crop_frames, np.float32)
            sh[:c] = it["shut"][start : start + c]
            mk = np.zeros(crop_frames, np.float32)
            mk[:c] = 1
            mels.append(m), tgts.append(t), shuts.append(sh), masks.append(mk)
        yield (torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(tgts)), torch.from_numpy(np.stack(shuts)),
               torch.from_numpy(np.stack(masks)))


def evaluate(model, items: list[dict]) -> dict:  # noqa: ANN001
    """Return held-out metrics: MAE vs the phonetic path, closure at bilabials, closure-flag F1, RTF."""
    import torch

    lips = default_lip_model()
    cols = [index_of(n) for n in SPEECH_COLUMNS]
    abs_err, n_frames, closed, bil, closed_raw, tp, fp, fn = 0.0, 0, 0, 0, 0, 0, 0, 0
    seconds, compute = 0.0, 0.0
    model.eval()
    for it in items:
        t = time.perf_counter()
        with torch.no_grad():
            out = model(torch.from_numpy(it["mel"])[None])[0].numpy()
        compute += time.perf_counter() - t
        seconds += it["mel"].shape[1] / 100.0
        n = min(len(out), len(it["target"]))
        w = 1 / (1 + np.exp(-out[:n, :52]))
        pred_shut = out[:n, 52] > 0
        tgt, shut = it["target"][:n], it["shut"][:n]
        abs_err += float(np.abs(w[:, cols] - tgt[:, cols]).sum())
        n_frames += n
        final = close_lips(w, pred_shut, lips)
        gap = lips.gap(final)
        gap_raw = lips.gap(w)
        bil += int(shut.sum())
        closed += int((gap[shut] < 0.15).sum())
        closed_raw += int((gap_raw[shut] < 0.15).sum())
        tp += int((pred_shut & shut).sum())
        fp += int((pred_shut & ~shut).sum())
        fn += int((~pred_shut & shut).sum())
    return {
        "mae_mouth_columns": abs_err / max(1, n_frames * len(cols)),
        "closure_rate_at_bilabial_frames": closed / max(1, bil),
        "closure_rate_without_enforcement": closed_raw / max(1, bil),
        "closure_flag_f1": 2 * tp / max(1, 2 * tp + fp + fn),
        "model_rtf": compute / max(seconds, 1e-9),
        "heldout_seconds": seconds, "bilabial_frames": bil,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("generators/speech/weights"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-utterances", type=int, default=900)
    ap.add_argument("--test-utterances", type=int, default=80)
    ap.add_argument("--augment-copies", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=12, help="epochs; the learning-rate schedule follows epochs, so runs reproduce")
    ap.add_argument("--minutes", type=float, default=0.0, help="optional wall-clock cap (0: none); a capped run is marked in metrics")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop-seconds", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch

    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} is not installed (apt-get install {tool})")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    t_start = time.time()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        print("building training data", flush=True)
        train = build_split(args.train_utterances, VOICES_TRAIN, VARIANTS_TRAIN, rng, tmp, args.augment_copies)
        # Same vocabulary, different sentences (a separate rng stream) and unseen voices.
        print("building held-out data", flush=True)
        test_rng = np.random.default_rng(args.seed + 1000)
        test = build_split(args.test_utterances, VOICES_TEST, VARIANTS_TEST, test_rng, tmp, 0)
    data_s = time.time() - t_start
    train_seconds = sum(it["mel"].shape[1] for it in train) / 100.0
    print(f"data: {len(train)} train clips ({train_seconds / 60:.1f} min), {len(test)} held-out, {data_s:.0f} s", flush=True)

    if not train or not test:
        print("no usable training or held-out clips: check espeak-ng, sox and pocketsphinx", file=sys.stderr)
        return 1
    args.batch = min(args.batch, len(train))
    model = SpeechToARKit()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    cols = torch.tensor([index_of(n) for n in SPEECH_COLUMNS])
    col_w = torch.zeros(52)
    col_w[cols] = 1.0
    crop = int(args.crop_seconds * LABEL_FPS)
    deadline = time.time() + 60.0 * args.minutes if args.minutes > 0 else float("inf")
    epoch, step = 0, 0
    while epoch < args.epochs and time.time() < deadline:
        model.train()
        epoch_loss, nb = 0.0, 0
        for mel, tgt, shut, mask in batches(train, rng, args.batch, crop):
            out = model(mel)
            w = torch.sigmoid(out[..., :52])
            l1 = ((w - tgt).abs() * col_w).sum(-1) / col_w.sum()
            # Other columns are pushed to zero gently: the speech layer owns only the mouth.
            l0 = (w * (1 - col_w)).mean(-1)
            bce = torch.nn.functional.binary_cross_entropy_with_logits(out[..., 52], shut, pos_weight=torch.tensor(3.0),
                                                                       reduction="none")
            loss = ((l1 + 0.1 * l0 + 0.05 * bce) * mask).sum() / mask.sum()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            epoch_loss += loss.item()
            nb += 1
            step += 1
            if time.time() > deadline:
                break
        epoch += 1
        # Cosine decay over the epochs.
        frac = epoch / args.epochs
        for g in opt.param_groups:
            g["lr"] = args.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, frac))))
        print(f"epoch {epoch} step {step} loss {epoch_loss / max(1, nb):.4f} lr {opt.param_groups[0]['lr']:.2e}", flush=True)

    metrics = evaluate(model, test)
    metrics.update({"epochs": epoch, "steps": step, "train_clips": len(train), "train_minutes_audio": train_seconds / 60,
                    "heldout_clips": len(test), "seed": args.seed, "data_build_seconds": data_s,
                    "epochs_requested": args.epochs, "capped_by_minutes": epoch < args.epochs,
                    "config": {k: v for k, v in model.config.items() if not k.startswith("_") and k != "blendshape_names"},
                    "params": sum(p.numel() for p in model.parameters())})
    out = args.out / "speech_to_arkit"
    model.save_pretrained(out)  # the diffusers folder: config.json + diffusion_pytorch_model.safetensors
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    print(json.dumps(metrics, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
