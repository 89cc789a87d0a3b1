"""Prints `emoavatar animate` speed end to end (real-time factor), the share of every stage, the images against a
baseline checkout, and time to first frame.

Speech is a human voice by default: benchmarks/data/realism/s1_bbas1s.wav (GRID, 2.98 s) looped to 5.96 s
(`--speech espeak`: an espeak-ng sentence; synthetic voiced noise where espeak-ng is missing). Measured, each in a
fresh process (the user's experience), and, with `--baseline DIR`, the same for an earlier checkout interleaved
run by run (this machine is shared: only figures from one run compare):

- `python -m avatar animate speech.wav --emotion happy --method M --size N -o talk.mp4` at each `--sizes`: median
  wall seconds and real-time factor (audio seconds / wall seconds; 1.5 means one and a half times real time).
  This checkout and the baseline each run it as a user would (`--workers auto`: frame ranges split across 2
  processes on a 2+ core machine) and with `--workers 1` (one process, serial), so split and serial compare in the
  same run.
- The stage table, in one process per checkout: imports; audio analysis, lip motion (alignment or the model),
  composition (emotion, lip closures), life, the rest of the speech stage; renderer set-up; posing per sub-stage
  (blend + head pose, face boxes, normals, wrinkle amplitude, cornea normals, cavity factors), upload, draw,
  read-back, each serially over every frame; encode (x264 + audio mux of the frames already drawn); and the
  pipelined render + encode that `animate` really runs (posing on a worker thread, ffmpeg in its own process).
- Images: a fixed 30-frame sequence with head motion rendered by both checkouts at each size, in the look both
  share (issue 19's skin switches off where the checkout has them); PSNR and the share of pixels that differ (the
  issue asks for bit-identical or >= 50 dB). `--images DIR` compares against
  another checkout instead of the baseline (one with the same look, when the baseline's look has changed since).
- The same sequence in this checkout's default look with and without the CPU rasterizer's shortcuts (draw order
  and vertex layout, polynomial output gamma): what this work does to the images in the look a user now gets.
- With `--look-against DIR`: this checkout's default look against DIR's (front and three-quarter), where DIR has the
  same look (e.g. main before a change): what the change does to the images a user gets.
- Time to first frame: imports + head + GL context + shaders + one frame in memory.

    python benchmarks/bench_pipeline.py [--sizes 128 512] [--repeats 3] [--method neural] [--baseline DIR] [--images DIR]
        [--look-against DIR] [--smoke]

DIR: e.g. `git worktree add /tmp/base <commit>`. --smoke: 1.5 s of audio at 96x96, once (tests/test_speed_paths.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from _machine import machine

ROOT = Path(__file__).resolve().parents[1]
HUMAN = ROOT / "benchmarks" / "data" / "realism" / "s1_bbas1s.wav"
SENTENCE = "Hello there, it is lovely to see you again today. I brought news that will make everyone smile."

# Run as a file by each checkout's interpreter (PYTHONPATH = that checkout); prints one JSON line of seconds.
STAGES_SCRIPT = r'''
import inspect, json, os, sys, time
T, C = {}, {}  # wall and CPU seconds (this process's threads and its reaped children: ffmpeg) per stage
_cpu = {}
def cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
def lap(key, t0):
    T[key] = T.get(key, 0.0) + time.perf_counter() - t0
    C[key] = C.get(key, 0.0) + cpu() - _cpu.pop(t0)
_perf = time.perf_counter
def _start():
    t = _perf()
    _cpu[t] = cpu()
    return t
time.perf_counter = _start  # every `t = time.perf_counter()` below also notes the CPU clock for `lap`
wav, size, method, out, frames_out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
t0 = time.perf_counter()
import numpy as np
import avatar.app.facade as P
from avatar.app.cli.common import write_sequence_video
lap("imports", t0)
import generators.speech.talking as talking
import generators.speech.emotion_layer as emotion_layer
import generators.speech.life as life
SPEECH = {"analyse_audio": (talking, "speech: audio analysis"), "speech_curves": (talking, "speech: lip motion (alignment / model)"),
          "compose": (emotion_layer, "speech: composition (emotion, lip closures)"), "add_life": (life, "speech: life (blinks, gaze, head)")}
for name, (mod, key) in SPEECH.items():
    def timed(*a, _f=getattr(mod, name), _k=key, **k):
        t = time.perf_counter()
        try:
            return _f(*a, **k)
        finally:
            lap(_k, t)
    setattr(mod, name, timed)
t = time.perf_counter()
seq = P.animate(wav, emotion="happy", method=method)
speech_cpu = cpu() - _cpu.pop(t)
T["speech: the rest"] = _perf() - t - sum(T.get(k, 0.0) for _, k in SPEECH.values())
C["speech: the rest"] = speech_cpu - sum(C.get(k, 0.0) for _, k in SPEECH.values())
t = time.perf_counter()
r = P.get_renderer(None, None, size, size)
lap("renderer set-up", t)
W, HP, n = seq.weights, seq.head_pose, len(seq)
poser = getattr(r, "_poser", None)
# Checkouts whose vertex shader applies the head pose (a model matrix) pose by the weights alone.
in_shader = hasattr(r, "_box_of_unposed")
HPP = None if in_shader else HP
t = time.perf_counter()
if poser is not None and hasattr(poser, "pose"):
    V = np.stack([poser.pose(W[i], None if HPP is None else HPP[i]).copy() for i in range(n)])
else:
    V = np.concatenate([r.head.pose(W[i:i + 32], None if HP is None else HP[i:i + 32]) for i in range(0, n, 32)])
lap("pose: blend + head pose", t)
t = time.perf_counter()
if in_shader:
    from renderers.attachments import pose_transform
    for i in range(n):
        r._box_of_unposed(V[i], pose_transform(r.head, None if HP is None else HP[i]))
else:
    r.boxes_of_vertices(V)
lap("pose: face boxes", t)
def old(*names):
    for module in ("renderers.shading", "renderers.wrinkles", "renderers.corneas", "renderers.cavity", "avatar.blend"):
        try:
            m = __import__(module, fromlist=["x"])
        except ImportError:
            continue
        for name in names:
            if hasattr(m, name):
                return getattr(m, name)
normals_of = old("vertex_normals")
wrinkle_of, cornea_of, cavity_of = old("wrinkle_amplitude"), old("cornea_normals"), old("cavity_shade")
for i in range(n):
    v, w, hp = V[i], W[i], None if HPP is None else HPP[i]
    t = time.perf_counter()
    if poser is not None:
        nrm = poser.normals(v, np.empty_like(v), np.empty(len(v), np.float32))
    else:
        nrm = normals_of(v, r._faces)
    lap("pose: normals", t)
    t = time.perf_counter()
    if r._wrinkles is not None:
        if hasattr(poser, "_wrinkle"):
            poser._wrinkle(v, np.zeros(len(v), np.float32))
        else:
            wrinkle_of(r._wrinkles, v, r.head.neutral)
    lap("pose: wrinkle amplitude", t)
    t = time.perf_counter()
    if r._corneas:
        cornea_of(r._corneas, v)
    lap("pose: cornea normals", t)
    t = time.perf_counter()
    if r._cavity is not None:
        if poser is not None:
            poser.cavity_factors(w, hp, nrm, np.ones(len(v), np.float32))
        else:
            cavity_of(r._cavity, v, nrm)
    lap("pose: cavity factors", t)
with_weights = len(inspect.signature(r._vertex_attributes).parameters) > 1
frames = []
for i in range(n):
    attrs = r._vertex_attributes(V[i], W[i], None if HP is None else HP[i]) if with_weights else r._vertex_attributes(V[i])
    r._use()
    t = time.perf_counter()
    r._write_attributes(attrs)
    lap("upload", t)
    t = time.perf_counter()
    fbo = r._draw()
    r.ctx.finish()
    lap("draw (llvmpipe)", t)
    t = time.perf_counter()
    frames.append(r._unpack(fbo.read(components=r._comps, alignment=1)))
    lap("read-back", t)
from renderers.writers import save_frames
t = time.perf_counter()
save_frames(iter(frames), frames_out, fps=seq.fps, audio=seq.audio, total=n)
lap("encode (x264 + mux)", t)
t = time.perf_counter()
write_sequence_video(r, seq, out, seq.audio, False)
pipelined, pipelined_cpu = _perf() - t, cpu() - _cpu.pop(t)
print(json.dumps({"stages": T, "cpu": C, "pipelined": pipelined, "pipelined_cpu": pipelined_cpu, "frames": n}))
'''

IMAGES_SCRIPT = r'''
import dataclasses, sys, numpy as np
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
from avatar.appearance import Appearance
seq = np.load(sys.argv[1])
# The look both checkouts share: issue 19's skin switches (where this checkout has them) off, so the comparison
# measures the pipeline, not a change of look (with them off the images are 17c7cde's).
fields = {f.name for f in dataclasses.fields(Appearance)}
# Hair, raised brows and clothing (issue 19's geometry) off too; the bald scalp then still differs from 17c7cde's
# painted hair cap, which that work removed.
look = Appearance(**{k: False for k in ("skin_detail", "skin_regions", "subsurface", "ambient_occlusion", "shadows", "hair", "brow_shell",
                                        "clothing") if k in fields})
out = {}
for size in [int(s) for s in sys.argv[3].split(",")]:
    with GLRenderer(options=RendererOptions(width=size, height=size, camera="three-quarter", appearance=look)) as r:
        out[str(size)] = np.stack(list(r.iter_frames(seq["weights"], seq["head_pose"])))
np.savez(sys.argv[2], **out)
'''

# This checkout's frames (default look: skin, hair, clothing as shipped) with its CPU-rasterizer shortcuts and without
# them, i.e. with the choices GLRenderer makes on a GPU forced on llvmpipe (the head's own triangle order and vertex
# layout, pow() for the output gamma in the head's and the strands' shaders, hair and clothing drawn after the head).
# What the pipeline's changes do to the images in the look a user gets, where no older checkout has that look.
EXACT_SCRIPT = r'''
import sys, numpy as np
import renderers.gl as gl
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
seq = np.load(sys.argv[1])
def frames(size):
    opts = RendererOptions(width=size, height=size, camera="three-quarter", gpu_pose=False, antialias="supersample")
    with GLRenderer(options=opts) as r:
        return np.stack(list(r.iter_frames(seq["weights"], seq["head_pose"])))
out = {}
for size in [int(s) for s in sys.argv[3].split(",")]:
    out[f"fast{size}"] = frames(size)
gl.is_software_rasterizer = lambda ctx: False  # every shortcut is keyed on it
for size in [int(s) for s in sys.argv[3].split(",")]:
    out[f"exact{size}"] = frames(size)
np.savez(sys.argv[2], **out)
'''

# Each checkout's own default look (whatever Appearance() is there): with --look-against, what this work does to the
# images a user gets against an earlier checkout with the same look.
DEFAULT_LOOK_SCRIPT = r'''
import sys, numpy as np
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
seq = np.load(sys.argv[1])
out = {}
for size in [int(s) for s in sys.argv[3].split(",")]:
    for camera in ("three-quarter", "front"):
        with GLRenderer(options=RendererOptions(width=size, height=size, camera=camera)) as r:
            out[f"{camera} {size}"] = np.stack(list(r.iter_frames(seq["weights"], seq["head_pose"])))
np.savez(sys.argv[2], **out)
'''

FIRST_FRAME_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from renderers.gl import GLRenderer
from renderers.options import RendererOptions
r = GLRenderer(options=RendererOptions(width={size}, height={size}))
img = r.render(np.zeros(52, np.float32))
print(time.perf_counter() - t0)
"""


def make_speech(path: Path, seconds: float, kind: str = "human") -> float:
    """Write a speech WAV to `path`: the GRID clip looped (human), espeak-ng, or a synthetic voice; return its seconds."""
    espeak = shutil.which("espeak-ng")
    if kind == "human" and HUMAN.is_file():
        with wave.open(str(HUMAN)) as f:
            params, pcm = f.getparams(), f.readframes(f.getnframes())
            once = f.getnframes() / f.getframerate()
        with wave.open(str(path), "wb") as g:
            g.setparams(params)
            g.writeframes(pcm * max(1, round(seconds / once)))
    elif espeak is not None and seconds >= 3:
        subprocess.run([espeak, "-v", "en-us", "-s", "165", "-w", str(path), SENTENCE], check=True, capture_output=True)
    else:
        sr = 16000
        t = np.arange(int(seconds * sr)) / sr
        pitch = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
        phase = 2 * np.pi * np.cumsum(pitch) / sr
        voice = sum(np.sin(k * phase) / k for k in range(1, 8))
        syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)  # ~4 syllables a second
        pcm = (voice * syllables * 6000).astype(np.int16)
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1), f.setsampwidth(2), f.setframerate(sr), f.writeframes(pcm.tobytes())
    with wave.open(str(path)) as f:
        return f.getnframes() / f.getframerate()


def env_for(root: Path) -> dict[str, str]:
    """Return the environment that makes `python` import the checkout `root`."""
    return {**os.environ, "PYTHONPATH": str(root)}


def run(cmd: list[str], root: Path = ROOT) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds of it and its children) of a command run from the checkout `root` (this one
    or a baseline; fails loudly)."""
    before = os.times()
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env_for(root))
    wall = time.perf_counter() - t0
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed in {root}:\n{out.stderr[-2000:]}")
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def script(source: str, args: list[str], root: Path, tmp: Path) -> str:
    """Return the stdout of `source` run as a file by a fresh interpreter importing the checkout `root`."""
    path = tmp / f"snippet_{abs(hash(source))}.py"
    path.write_text(source)
    out = subprocess.run([sys.executable, str(path), *args], cwd=root, capture_output=True, text=True, env=env_for(root))
    if out.returncode:
        raise SystemExit(f"stage script failed in {root}:\n{out.stderr[-3000:]}")
    return out.stdout


def first_frame(size: int, root: Path = ROOT) -> float:
    """Return the seconds to the first frame in a fresh interpreter importing the checkout `root`."""
    out = subprocess.run([sys.executable, "-c", FIRST_FRAME_SNIPPET.format(size=size)], cwd=root, check=True,
                         capture_output=True, text=True, env=env_for(root))
    return float(out.stdout.strip().splitlines()[-1])


def test_sequence(frames: int = 30) -> dict[str, np.ndarray]:
    """Return a fixed (T, 52) talking-and-emoting sequence with head motion, for the image comparison."""
    t = np.arange(frames) / 30.0
    w = np.zeros((frames, 52), np.float32)
    from avatar.rig import index_of

    w[:, index_of("jawOpen")] = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    for name in ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight"):
        w[:, index_of(name)] = 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t)
    w[:, index_of("browInnerUp")] = 0.5 + 0.5 * np.cos(2 * np.pi * 0.9 * t)
    w[:, index_of("eyeBlinkLeft")] = w[:, index_of("eyeBlinkRight")] = (np.sin(2 * np.pi * 1.5 * t) > 0.9)
    hp = np.zeros((frames, 6))
    hp[:, 0], hp[:, 1], hp[:, 2] = 0.1 * np.sin(2 * np.pi * t), 0.3 * np.sin(2 * np.pi * 0.5 * t), 0.05 * np.cos(t)
    return {"weights": np.clip(w, 0, 1), "head_pose": hp}


def stage_table(results: dict[str, dict]) -> str:
    """Return the markdown stage table: each checkout's CPU seconds per stage with its share of the serial total,
    and wall seconds (CPU is steadier on a shared machine; wall is what a user waits)."""
    names = list(dict.fromkeys(k for r in results.values() for k in r["stages"]))
    heads = list(results)
    lines = ["| stage | " + " | ".join(f"{h}: CPU s (share) | wall s" for h in heads) + " |",
             "|---|" + "---|---|" * len(heads)]
    totals = {h: sum(results[h]["cpu"].values()) for h in heads}
    for name in names:
        cells = []
        for h in heads:
            c, s = results[h]["cpu"].get(name), results[h]["stages"].get(name)
            cells.append("- | -" if s is None else f"{c:.2f} ({100 * c / totals[h]:.0f}%) | {s:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **serial total** | " + " | ".join(f"**{totals[h]:.2f}** | **{sum(results[h]['stages'].values()):.2f}**"
                                                    for h in heads) + " |")
    lines.append("| render + encode pipelined (what animate runs after the speech) | "
                 + " | ".join(f"{results[h]['pipelined_cpu']:.2f} | {results[h]['pipelined']:.2f}" for h in heads) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", default="neural", choices=("auto", "neural", "hybrid", "phonetic"))
    ap.add_argument("--speech", default="human", choices=("human", "espeak"))
    ap.add_argument("--smoke", action="store_true", help="1.5 s of audio at 96x96, once: checks that the script runs")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="an earlier checkout (e.g. `git worktree add DIR <commit>`) timed interleaved with this one")
    ap.add_argument("--images", type=Path, default=None,
                    help="the checkout whose images this one's are compared with (default: the baseline)")
    ap.add_argument("--look-against", type=Path, default=None,
                    help="a checkout with this one's default look (e.g. main before a change): the default look's "
                         "frames compared with its, front and three-quarter")
    args = ap.parse_args()
    roots = {"this checkout": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    # This checkout twice: as `animate` runs by default (frame ranges split where there are 2+ cores) and serial.
    runs = {"this checkout": (ROOT, []), "this checkout, --workers 1": (ROOT, ["--workers", "1"]),
            **({"baseline": (args.baseline.resolve(), []), "baseline, --workers 1": (args.baseline.resolve(), ["--workers", "1"])}
               if args.baseline else {})}
    if args.smoke:
        args.sizes, args.repeats = [96], 1
    from renderers.writers import probe_video

    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wav, out = tmp / "speech.wav", tmp / "talk.mp4"
        audio_s = make_speech(wav, 1.5 if args.smoke else 6.0, "espeak" if args.smoke else args.speech)
        walls: dict[tuple[str, int], list[float]] = {(k, s): [] for k in runs for s in args.sizes}
        cpus: dict[tuple[str, int], list[float]] = {(k, s): [] for k in runs for s in args.sizes}
        loads: list[float] = []
        for _ in range(args.repeats):
            for size in args.sizes:
                for k, (root, extra) in reversed(runs.items()):  # this checkout's default run last: `out` is its MP4
                    cmd = [sys.executable, "-m", "avatar", "animate", str(wav), "--emotion", "happy", "--method", args.method,
                           "--size", str(size), "-o", str(out), "--no-progress", *extra]
                    loads.append(os.getloadavg()[0])
                    wall, cpu = run(cmd, root)
                    walls[k, size].append(wall)
                    cpus[k, size].append(cpu)
        frames, video_s, audio_out = probe_video(out)
        print(f"\nemoavatar animate --method {args.method}, {audio_s:.2f} s of {args.speech} speech, whole process, "
              f"median of {args.repeats} (interleaved; load average {min(loads):.1f}-{max(loads):.1f} during the runs):")
        for size in args.sizes:
            for k in runs:
                med = statistics.median(walls[k, size])
                print(f"  {size}x{size}, {k}: {med:.2f} s, real-time factor {audio_s / med:.2f}x "
                      f"(runs {', '.join(f'{x:.1f}' for x in walls[k, size])}); CPU {statistics.median(cpus[k, size]):.2f} s")
            serial = statistics.median(walls["this checkout, --workers 1", size])
            print(f"  {size}x{size}: split {serial / statistics.median(walls['this checkout', size]):.2f}x faster than serial "
                  f"(median wall)")
            if args.baseline:
                ratio = statistics.median(walls["baseline", size]) / statistics.median(walls["this checkout", size])
                cpu_ratio = statistics.median(cpus["baseline", size]) / statistics.median(cpus["this checkout", size])
                print(f"  {size}x{size}: this checkout {ratio:.2f}x faster than the baseline (median wall), "
                      f"{cpu_ratio:.2f}x less CPU")
                serial_ratio = (statistics.median(walls["baseline, --workers 1", size])
                                / statistics.median(walls["this checkout, --workers 1", size]))
                print(f"  {size}x{size}, both --workers 1: this checkout {serial_ratio:.2f}x faster than the baseline")
        print(f"  the MP4 (this checkout, {args.sizes[-1]} px): {frames} frames, video {video_s:.2f} s, audio "
              f"{audio_out if audio_out is None else round(audio_out, 3)} s")
        for size in args.sizes:
            results = {}
            for k, root in roots.items():
                line = script(STAGES_SCRIPT, [str(wav), str(size), args.method, str(tmp / f"p_{size}.mp4"),
                                              str(tmp / f"s_{size}.mp4")], root, tmp).strip().splitlines()[-1]
                results[k] = json.loads(line)
            print(f"\nstages at {size}x{size} ({results['this checkout']['frames']} frames; one process per checkout, "
                  f"each stage serial; load {os.getloadavg()[0]:.1f}):\n")
            print(stage_table(results))
        against = args.images or args.baseline
        if against:
            np.savez(tmp / "seq.npz", **test_sequence(8 if args.smoke else 30))
            sizes = ",".join(str(s) for s in args.sizes)
            for k, root in {"this": ROOT, "base": against.resolve()}.items():
                script(IMAGES_SCRIPT, [str(tmp / "seq.npz"), str(tmp / f"img_{k}.npz"), sizes], root, tmp)
            a, b = np.load(tmp / "img_this.npz"), np.load(tmp / "img_base.npz")
            for size in args.sizes:
                x, y = a[str(size)].astype(np.float64), b[str(size)].astype(np.float64)
                mse = float(np.mean((x - y) ** 2))
                differ = float((np.abs(x - y).max(-1) > 0).mean())
                psnr = "bit-identical" if mse == 0 else f"PSNR {10 * np.log10(255.0 ** 2 / mse):.1f} dB"
                print(f"\nimages against {against}, {size}x{size}, {len(x)} frames with head motion: {psnr}, "
                      f"{100 * differ:.4f}% of pixels differ, by at most {int(np.abs(x - y).max())} levels (target: >= 50 dB)")
        if args.look_against:
            np.savez(tmp / "seq.npz", **test_sequence(8 if args.smoke else 30))
            sizes = ",".join(str(s) for s in args.sizes)
            for k, root in {"this": ROOT, "base": args.look_against.resolve()}.items():
                script(DEFAULT_LOOK_SCRIPT, [str(tmp / "seq.npz"), str(tmp / f"look_{k}.npz"), sizes], root, tmp)
            a, b = np.load(tmp / "look_this.npz"), np.load(tmp / "look_base.npz")
            for key in a.files:
                x, y = a[key].astype(np.float64), b[key].astype(np.float64)
                mse = float(np.mean((x - y) ** 2))
                differ = float((np.abs(x - y).max(-1) > 0).mean())
                psnr = "bit-identical" if mse == 0 else f"PSNR {10 * np.log10(255.0 ** 2 / mse):.1f} dB"
                print(f"\nimages in the default look against {args.look_against}, {key}, {len(x)} frames with head motion: "
                      f"{psnr}, {100 * differ:.4f}% of pixels differ, by at most {int(np.abs(x - y).max())} levels "
                      f"(target: >= 50 dB)")
        np.savez(tmp / "seq.npz", **test_sequence(8 if args.smoke else 30))
        script(EXACT_SCRIPT, [str(tmp / "seq.npz"), str(tmp / "exact.npz"), ",".join(str(s) for s in args.sizes)], ROOT, tmp)
        e = np.load(tmp / "exact.npz")
        for size in args.sizes:
            x, y = e[f"fast{size}"].astype(np.float64), e[f"exact{size}"].astype(np.float64)
            mse = float(np.mean((x - y) ** 2))
            differ = float((np.abs(x - y).max(-1) > 0).mean())
            psnr = "bit-identical" if mse == 0 else f"PSNR {10 * np.log10(255.0 ** 2 / mse):.1f} dB"
            print(f"\nimages, this checkout's default look, {size}x{size}, {len(x)} frames: with the CPU rasterizer's "
                  f"shortcuts (vertex layout, polynomial gamma, hair facing the camera first) against the exact path "
                  f"(a GPU's choices forced on llvmpipe): {psnr}, "
                  f"{100 * differ:.4f}% of pixels differ, by at most {int(np.abs(x - y).max())} levels")
    firsts: dict[str, list[float]] = {k: [] for k in roots}
    for _ in range(max(1, args.repeats)):
        for k, root in roots.items():
            firsts[k].append(first_frame(512, root))
    for k, v in firsts.items():
        print(f"\ntime to first frame, {k} (512x512, fresh process, from the first import; median of {len(v)}): "
              f"{statistics.median(v):.3f} s (load {os.getloadavg()[0]:.1f})")
    print("\nreal-time factor: see above")


if __name__ == "__main__":
    main()
