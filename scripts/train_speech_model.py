"""Train the neural speech -> ARKit model on synthetic speech of three voice families labelled by the phonetic path (seeded, CPU).

Recipe (every choice is a flag; the defaults produced the shipped weights):
1. sentences: random word strings from a built-in list of common English words (bilabial- and
   rounding-rich), 4-14 words, commas inserted for pauses; a disjoint sentence set for the held-out split;
2. speech, three families (`--families`, mixed by `--family-weights`):
   * espeak-ng (formant synthesis): voices x variants, 120-230 wpm, pitch 20-80, word gaps;
   * flite (Debian's built-in voices; kal/kal16 diphone, awb/rms/slt clustergen, built from recordings of
     real speakers): duration stretch 0.8-1.3, F0 mean 80-220 Hz;
   * festival (festvox-kallpc16k, festvox-kdlpc16k diphones; festvox-us-slt-hts HTS): duration stretch 0.8-1.3;
   30% time-stretched by sox tempo 0.85-1.2 *before* alignment (so labels follow the new timing).
   Whole voices are held out (never trained on): espeak en-gb-x-gbcwmd with unseen variants, flite rms,
   festival ked_diphone; metrics are reported per family;
3. labels: the phonetic path with the transcript (pocketsphinx forced alignment -> coarticulated visemes ->
   voice-activity gate -> bilabial closure with its margins) at 50 Hz: 52 weights + a closure flag per frame;
4. augmentation (timing-preserving, so the labels stay valid; any delay a codec adds is removed by
   cross-correlation): sox pitch shift (±300 cents), room reverb, telephone band (300-3400 Hz) or other band
   limits, 8 kHz round trip, MP3 at 24-64 kbit/s (lame), white/pink noise at 10-35 dB SNR, random gain;
5. model: `generators.speech.neural.SpeechToARKit` (conv front end, 60 ms look-ahead, GRU), Adam, L1 on the
   mouth/jaw columns + BCE on the closure flag, random 4 s crops;
6. evaluation on the held-out voices, per family: frame metrics against the labels, and the product metric:
   `animate(method="neural")` at 30 fps scored by `generators.speech.evaluation.closure_report` against an
   independent alignment. The shipped checkpoint is scored on the same clips; with `--replace-if-better` the
   new weights replace it only when their held-out closure is higher (else they go to `--out`/candidate).

Run (about 45 min on 2 shared cores):
    nice -n 10 python scripts/train_speech_model.py --out generators/speech/weights --replace-if-better
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

FAMILIES = ("espeak", "flite", "festival")
FLITE_TRAIN = ["kal", "kal16", "awb", "slt"]
FLITE_TEST = ["rms"]
FESTIVAL_TRAIN = ["kal_diphone", "cmu_us_slt_arctic_hts"]
FESTIVAL_TEST = ["ked_diphone"]
VOICES_TRAIN = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-gbclan"]
VOICES_TEST = ["en-gb-x-gbcwmd"]
VARIANTS_TRAIN = ["", "+m1", "+m2", "+m3", "+m4", "+f1", "+f2", "+f3", "+klatt", "+klatt2", "+Andy", "+Annie",
                  "+belinda", "+david", "+edward", "+grandma", "+adam", "+anika", "+caleb", "+f5"]
VARIANTS_TEST = ["+m7", "+f4", "+Alicia", "+benjamin"]
# Never trained on, in any run: the voice held out for the lip-sync benchmark (a trained accent with an unseen
# variant) and the variants closure rules were tuned on (docs/speech.md).
VARIANTS_BENCH_HELD_OUT = ["+Michael"]
VARIANTS_DEV = ["+m6", "+klatt3", "+Storm", "+steph", "+Lee", "+Jacky"]
# `--more-variants`: every other espeak-ng variant that speaks (whispers, croaks and robots left out).
VARIANTS_MORE = ["+m5", "+m8", "+klatt4", "+klatt5", "+klatt6", "+Alex", "+Andrea", "+AnxiousAndy", "+Denis",
                 "+Diogo", "+Gene", "+Gene2", "+Henrique", "+Hugo", "+Marco", "+Mario", "+Mike", "+Nguyen", "+Tweaky",
                 "+antonio", "+aunty", "+boris", "+edward2", "+gustave", "+iven", "+iven2", "+iven3", "+iven4", "+john",
                 "+kaukovalta", "+linda", "+marcelo", "+max", "+michel", "+miguel", "+norbert", "+pablo", "+paul",
                 "+pedro", "+quincy", "+rob", "+robert", "+sandro", "+shelby", "+steph2", "+steph3", "+travis", "+victor",
                 "+zac", "+grandpa", "+RicishayMax", "+RicishayMax2", "+RicishayMax3", "+ed", "+fast"]

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


def synthesize_flite(text: str, voice: str, stretch: float, f0: int, path: Path) -> None:
    """Write flite speech for `text` with one of its built-in voices to `path`."""
    subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}", "--setf",
                    f"int_f0_target_mean={f0}", "-t", text, "-o", str(path)], check=True, capture_output=True, timeout=60)


def synthesize_festival(text: str, voice: str, stretch: float, path: Path) -> None:
    """Write festival speech for `text` with an installed festvox voice to `path` (text on stdin, no shell)."""
    subprocess.run(["text2wave", "-eval", f"(voice_{voice})", "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.3f})",
                    "-o", str(path)], input=text.encode(), check=True, capture_output=True, timeout=60)


def speak(family: str, text: str, voices: dict[str, list[str]], rng: np.random.Generator, path: Path) -> dict:
    """Synthesise `text` with a random voice of `family` into `path`; return the recipe entries."""
    if family == "espeak":
        voice = voices["espeak"][int(rng.integers(len(voices["espeak"])))] + \
            voices["variants"][int(rng.integers(len(voices["variants"])))]
        rate, pitch, gap = int(rng.integers(120, 231)), int(rng.integers(20, 81)), int(rng.integers(0, 6))
        synthesize(text, voice, rate, pitch, gap, path)
        return {"voice": voice, "rate": rate, "pitch": pitch, "gap": gap}
    stretch = float(rng.uniform(0.8, 1.3))
    voice = voices[family][int(rng.integers(len(voices[family])))]
    if family == "flite":
        f0 = int(rng.integers(80, 221))
        synthesize_flite(text, voice, stretch, f0, path)
        return {"voice": voice, "stretch": round(stretch, 3), "f0": f0}
    synthesize_festival(text, voice, stretch, path)
    return {"voice": voice, "stretch": round(stretch, 3)}


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


def _realign(y: np.ndarray, ref: np.ndarray, max_lag: int = 1600) -> np.ndarray:
    """Return `y` shifted (and cut/padded to len(ref)) so its envelope lines up with `ref`'s: codecs add delay."""
    def env(x: np.ndarray) -> np.ndarray:
        return np.convolve(np.abs(x[: len(ref)]), np.ones(80) / 80, mode="same")

    a, b = env(ref), env(y)
    best, lag = -np.inf, 0
    for d in range(-max_lag, max_lag + 1, 16):
        seg = b[max(0, d) : max(0, d) + len(a) - abs(d)] if d >= 0 else b[: len(a) + d]
        ref_seg = a[: len(seg)] if d >= 0 else a[-d : -d + len(seg)]
        if len(seg) < 100:
            continue
        c = float(np.dot(seg - seg.mean(), ref_seg - ref_seg.mean()))
        if c > best:
            best, lag = c, d
    out = y[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), y])
    return np.pad(out, (0, max(0, len(ref) - len(out))))[: len(ref)].astype(np.float32)


def augment(clean: Path, dst: Path, rng: np.random.Generator, tmp: Path) -> np.ndarray:
    """Return 16 kHz samples of `clean` with random timing-preserving augmentation (pitch, reverb, noise, gain)."""
    ref = load_audio(clean, max_seconds=120, silence_dbfs=-90).samples
    effects: list[str] = []
    if rng.random() < 0.5:
        effects += ["pitch", str(int(rng.integers(-300, 301)))]
    if rng.random() < 0.5:
        effects += ["reverb", str(int(rng.integers(10, 70))), "50", str(int(rng.integers(20, 100)))]
    band = rng.random()
    if band < 0.2:  # telephone band
        effects += ["sinc", "300-3400"]
    elif band < 0.35:  # a cheap microphone or a muffled room: low-pass somewhere in 2.5-6 kHz
        effects += ["sinc", f"-{int(rng.integers(2500, 6001))}"]
    src = clean
    if rng.random() < 0.2:  # 8 kHz round trip (narrow-band codecs, old telephony)
        sox(clean, tmp / "nb.wav", "rate", "8000")
        src = tmp / "nb.wav"
    if rng.random() < 0.25 and shutil.which("lame"):
        subprocess.run(["lame", "--quiet", "-b", str(int(rng.choice([24, 32, 48, 64]))), str(src), str(tmp / "c.mp3")],
                       check=True, capture_output=True, timeout=60)
        subprocess.run(["lame", "--quiet", "--decode", str(tmp / "c.mp3"), str(tmp / "c.wav")], check=True,
                       capture_output=True, timeout=60)
        src = tmp / "c.wav"
    if effects or src != clean:
        sox(src, dst, *effects)
        # Reverb tails add samples and codecs add delay: line the result up with the clean clip again.
        y = _realign(load_audio(dst, max_seconds=120, silence_dbfs=-90).samples, ref)
    else:
        y = ref
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


def make_utterance(job: tuple) -> list[dict]:
    """Return the items of utterance `i` (clean + augmented copies), from its own rng stream; [] when it fails.

    Every utterance draws from `default_rng([seed, i])`, so the data do not depend on how many workers build them.
    """
    i, seed, voices, families, p, augment_copies, keep_audio = job
    rng = np.random.default_rng([seed, i])
    text = make_sentence(rng, WORDS)
    family = families[int(rng.choice(len(families), p=p))]
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        raw, clean = tmp / "raw.wav", tmp / "clean.wav"
        try:
            recipe = speak(family, text, voices, rng, raw)
            tempo = float(rng.uniform(0.85, 1.2)) if rng.random() < 0.3 else 1.0
            sox(raw, clean, *(["tempo", f"{tempo:.3f}"] if tempo != 1.0 else []))
            audio = load_audio(clean, max_seconds=120)
            target, shut = labels_for(audio, text)
        except Exception as exc:  # a voice that fails to synthesise or a clip that does not align: skip it
            print(f"  skip {i}: {type(exc).__name__}: {str(exc)[:80]}", flush=True)
            return []
        recipe = {"text": text, "family": family, **recipe, "tempo": tempo}
        versions = [audio.samples] + [augment(clean, tmp / "aug.wav", rng, tmp) for _ in range(augment_copies)]
    items = []
    for k, y in enumerate(versions):
        item = {"mel": log_mel(y, FEATURES), "target": target, "shut": shut, "recipe": {**recipe, "augmented": k > 0}}
        if keep_audio:
            item["samples"] = y
        items.append(item)
    return items


def build_split(n: int, voices: dict[str, list[str]], families: list[str], weights: list[float], seed: int,
                augment_copies: int, workers: int = 1, keep_audio: bool = False, log_every: int = 50) -> list[dict]:
    """Return utterances: dicts with log-mel features, 50 Hz targets, closure flags, and their recipe (and samples when `keep_audio`)."""
    p = np.asarray(weights, np.float64) / np.sum(weights)
    jobs = [(i, seed, voices, families, p, augment_copies, keep_audio) for i in range(n)]
    items: list[dict] = []
    t0 = time.time()
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for i, got in enumerate(pool.imap(make_utterance, jobs, chunksize=4)):  # imap keeps the order
                items += got
                if (i + 1) % log_every == 0:
                    print(f"  {i + 1}/{n} utterances, {time.time() - t0:.0f} s", flush=True)
    else:
        for i, job in enumerate(jobs):
            items += make_utterance(job)
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


HUMAN_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
"""Public-domain LibriVox clips (one reader, with transcripts) shipped by Debian's pocketsphinx-testdata."""


def human_clips() -> list[tuple[str, np.ndarray, str]]:
    """Return (name, 16 kHz samples, transcript) of the LibriVox clips when pocketsphinx-testdata is installed, else []."""
    listing = HUMAN_DIR / "transcription"
    if not listing.is_file():
        return []
    out = []
    for line in listing.read_text().splitlines():
        if "(" not in line:
            continue
        text, name = line.rsplit("(", 1)
        name = name.strip(" )")
        wav = HUMAN_DIR / f"{name}.wav"
        if wav.is_file():
            out.append((name, load_audio(wav).samples, text.replace("<s>", "").replace("</s>", "").strip()))
    return out


def product_closure(model, clips: list[tuple[str, np.ndarray, str]], cache: dict) -> dict:  # noqa: ANN001
    """Return closure under an independent alignment of `animate(method="neural")` at 30 fps over (name, samples, text) clips."""
    from generators.speech import animate
    from generators.speech.audio import Audio
    from generators.speech.evaluation import ClosureReport, closure_report, independent_alignment

    total = ClosureReport()
    aligned = 0
    for name, y, text in clips:
        if name not in cache:
            cache[name] = independent_alignment(Audio(y, 16000), text)
        phones = cache[name]
        if phones is None:
            continue
        aligned += 1
        seq = animate(y, sample_rate=16000, method="neural", model=model, life=False, silence_dbfs=-90)
        total = total + closure_report(seq.weights, seq.fps, phones)
    return {"closed": total.closed_rate, "held": total.held_rate, "bilabials": total.bilabials, "clips": aligned,
            "onset_ms_median": float(np.median(total.onsets_ms)) if total.onsets_ms else None}


def compare(new, old, test: list[dict], human: list, per_family: bool = True) -> dict:  # noqa: ANN001
    """Return held-out metrics of the new model and (when given) the shipped one: per family, overall and on human speech."""
    cache: dict = {}
    out: dict = {}
    for tag, model in (("new", new), ("shipped", old)):
        if model is None:
            continue
        res: dict = {"frame_metrics": evaluate(model, test), "families": {}}
        fams = sorted({it["recipe"]["family"] for it in test}) if per_family else []
        for fam in fams:
            items = [it for it in test if it["recipe"]["family"] == fam]
            clips = [(f"{fam}{i}", it["samples"], it["recipe"]["text"]) for i, it in enumerate(items)]
            res["families"][fam] = {"voices": sorted({it["recipe"]["voice"] for it in items}),
                                    "frame_metrics": evaluate(model, items),
                                    "closure_independent_alignment": product_closure(model, clips, cache)}
        all_clips = [(f"{it['recipe']['family']}{i}", it["samples"], it["recipe"]["text"]) for fam in fams
                     for i, it in enumerate([x for x in test if x["recipe"]["family"] == fam])]
        res["closure_independent_alignment"] = product_closure(model, all_clips, cache)
        if human:
            res["human_librivox"] = product_closure(model, human, cache)
        out[tag] = res
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("generators/speech/weights"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-utterances", type=int, default=800)
    ap.add_argument("--test-utterances", type=int, default=90)
    ap.add_argument("--augment-copies", type=int, default=1)
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--family-weights", nargs="+", type=float, default=[0.4, 0.35, 0.25])
    ap.add_argument("--epochs", type=int, default=8, help="epochs; the learning-rate schedule follows epochs, so runs reproduce")
    ap.add_argument("--minutes", type=float, default=0.0, help="optional wall-clock cap (0: none); a capped run is marked in metrics")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop-seconds", type=float, default=4.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="processes building the data (the data do not depend on it)")
    ap.add_argument("--init-from", type=Path, default=None,
                    help="fine-tune: start from this checkpoint folder (e.g. the shipped one) instead of random weights")
    ap.add_argument("--more-variants", action=argparse.BooleanOptionalAction, default=False,
                    help="add VARIANTS_MORE (55 more espeak-ng variants) to the training voices")
    ap.add_argument("--replace-if-better", action=argparse.BooleanOptionalAction, default=False,
                    help="write into OUT/speech_to_arkit only when held-out closure beats the shipped model there")
    args = ap.parse_args(argv)

    import torch

    tools = {"espeak": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    for tool in ["sox"] + [tools[f] for f in args.families]:
        if shutil.which(tool) is None:
            ap.error(f"{tool} is not installed (apt-get install espeak-ng flite festival festvox-us-slt-hts "
                     "festvox-kallpc16k festvox-kdlpc16k sox lame)")
    if len(args.family_weights) != len(args.families):
        ap.error("give one --family-weights value per --families entry")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    variants = VARIANTS_TRAIN + (VARIANTS_MORE if args.more_variants else [])
    train_voices = {"espeak": VOICES_TRAIN, "variants": variants, "flite": FLITE_TRAIN, "festival": FESTIVAL_TRAIN}
    test_voices = {"espeak": VOICES_TEST, "variants": VARIANTS_TEST, "flite": FLITE_TEST, "festival": FESTIVAL_TEST}
    t_start = time.time()
    print("building training data", flush=True)
    train = build_split(args.train_utterances, train_voices, args.families, args.family_weights, args.seed,
                        args.augment_copies, args.workers)
    # Same vocabulary, different sentences (a separate seed), whole voices never trained on, equal shares.
    print("building held-out data", flush=True)
    test = build_split(args.test_utterances, test_voices, args.families, [1.0] * len(args.families), args.seed + 1000,
                       0, args.workers, keep_audio=True)
    data_s = time.time() - t_start
    train_seconds = sum(it["mel"].shape[1] for it in train) / 100.0
    print(f"data: {len(train)} train clips ({train_seconds / 60:.1f} min), {len(test)} held-out, {data_s:.0f} s", flush=True)

    if not train or not test:
        print("no usable training or held-out clips: check espeak-ng, sox and pocketsphinx", file=sys.stderr)
        return 1
    args.batch = min(args.batch, len(train))
    model = SpeechToARKit.from_pretrained(args.init_from) if args.init_from else SpeechToARKit()
    model.train()
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

    from generators.speech.shipped import weights_available

    # Keep the trained weights before the (slower) evaluation, so nothing is lost if it fails.
    model.save_pretrained(args.out / "speech_to_arkit_candidate")
    target = args.out / "speech_to_arkit"
    old = SpeechToARKit.from_pretrained(target) if weights_available(target) else None
    print("evaluating on held-out voices", flush=True)
    results = compare(model, old, test, human_clips())
    metrics = dict(results["new"]["frame_metrics"])
    metrics.update({"epochs": epoch, "steps": step, "train_clips": len(train), "train_minutes_audio": train_seconds / 60,
                    "train_families": {f: sum(it["recipe"]["family"] == f for it in train) for f in args.families},
                    "heldout_clips": len(test), "seed": args.seed, "init_from": str(args.init_from or ""),
                    "train_espeak_variants": variants, "lr": args.lr, "data_build_seconds": data_s,
                    "epochs_requested": args.epochs, "capped_by_minutes": epoch < args.epochs,
                    "heldout_voices": {"espeak": [v + x for v in VOICES_TEST for x in VARIANTS_TEST], "flite": FLITE_TEST,
                                       "festival": FESTIVAL_TEST},
                    "heldout": results["new"], "shipped_on_same_heldout": results.get("shipped"),
                    "config": {k: v for k, v in model.config.items() if not k.startswith("_") and k != "blendshape_names"},
                    "params": sum(p.numel() for p in model.parameters())})
    new_c = results["new"]["closure_independent_alignment"]["closed"]
    old_c = results["shipped"]["closure_independent_alignment"]["closed"] if "shipped" in results else -1.0
    better = not (new_c <= old_c)
    metrics["replaced_shipped"] = bool(better or not args.replace_if_better)
    out = target if metrics["replaced_shipped"] else args.out / "speech_to_arkit_candidate"
    if out == target:
        shutil.rmtree(args.out / "speech_to_arkit_candidate", ignore_errors=True)
    print(f"held-out closure (independent alignment): new {new_c:.3f}, shipped {old_c:.3f} -> writing {out}", flush=True)
    model.save_pretrained(out)  # the diffusers folder: config.json + diffusion_pytorch_model.safetensors
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    print(json.dumps(metrics, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
