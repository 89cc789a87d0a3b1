"""Prints the judge table of the expression-appearance switches (wrinkles, catch-lights, cavity) on and off, and their cost.

Fidelity: `avatar.app.fidelity.run_fidelity` over identities 0, 7, 21, 80, 95 x front / three-quarter /
profile x intensities 0.6 and 1.0 x the 8 emotions (neutral once), scored by the real-face judges and
ExpressionNet, once per setting of `Appearance(wrinkles=..., catch_lights=..., cavity=...)`. The shading was tuned
looking at fer2013 only; face-api and face-classification are the held-out judges that decide the
defaults; ExpressionNet (ours, trained on our renders) is reported and not decided by. Cavity shading's
constants were chosen with fer2013 and face-classification (scripts/select_cavity.py): for it face-api alone
is held out.
Speed: GLRenderer (256x256, 4x MSAA) and DifferentiableRenderer (256x256, forward and forward+backward)
per frame, CPU time, with each switch on and off.

    python benchmarks/bench_appearance.py [--json out.json] [--skip-fidelity] [--skip-speed]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np

from _machine import machine

SETTINGS: dict[str, dict[str, bool]] = {
    "plain": {"wrinkles": False, "catch_lights": False, "cavity": False},
    "wrinkles": {"wrinkles": True, "catch_lights": False, "cavity": False},
    "catch-lights": {"wrinkles": False, "catch_lights": True, "cavity": False},
    "cavity": {"wrinkles": False, "catch_lights": False, "cavity": True},
    "defaults (wrinkles + cavity)": {"wrinkles": True, "catch_lights": False, "cavity": True},
}
JUDGES = ("fer2013", "face-api", "face-classification", "expression-net")
TUNED_ON = "fer2013"
HELD_OUT = ("face-api", "face-classification")


def fidelity_table(recognizers: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Return {setting: {judge: {"accuracy", "balanced", "p_target"}}} over the sweep, one run per setting."""
    from avatar.app.fidelity import FidelityConfig, run_fidelity
    from avatar.appearance import Appearance

    cfg = FidelityConfig(identities=(0, 7, 21, 80, 95), views=("front", "three-quarter", "profile"),
                         intensities=(0.6, 1.0), recognizers=tuple(recognizers), device="cpu")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, flags in SETTINGS.items():
        t0 = time.perf_counter()
        report = run_fidelity(replace(cfg, appearance=Appearance(**flags)), recognizers=recognizers)
        readings = report.per_emotion_readings()
        out[name] = {}
        for judge, score in report.scores.items():
            ps = [r["p_target"] for e, r in readings[judge].items() if r["p_target"] == r["p_target"]]
            out[name][judge] = {"accuracy": round(float(score.accuracy), 4),
                                "balanced": round(float(score.balanced_accuracy), 4),
                                "p_target": round(float(np.mean(ps)), 4),
                                "per_emotion": {e: r["accuracy"] for e, r in readings[judge].items()}}
        print(f"{name}: {report.frames} frames in {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def print_table(table: dict[str, dict[str, dict[str, float]]]) -> None:
    """Print accuracy / balanced accuracy / mean p(target) per judge and setting as a markdown table."""
    judges = list(next(iter(table.values())))
    print(f"\ntuned on {TUNED_ON}; held out: {', '.join(HELD_OUT)}; expression-net reported only\n")
    print("| setting | " + " | ".join(f"{j} acc / bal / p" for j in judges) + " |")
    print("|---|" + "---|" * len(judges))
    for name, row in table.items():
        cells = [f"{row[j]['accuracy']:.3f} / {row[j]['balanced']:.3f} / {row[j]['p_target']:.3f}" for j in judges]
        print(f"| {name} | " + " | ".join(cells) + " |")
    emotions = list(next(iter(next(iter(table.values())).values()))["per_emotion"])
    for j in judges:
        print(f"\n{j}: per-emotion accuracy (mean over views)\n")
        print("| setting | " + " | ".join(emotions) + " |")
        print("|---|" + "---|" * len(emotions))
        for name, row in table.items():
            cells = [f"{row[j]['per_emotion'][e]:.2f}" if row[j]['per_emotion'][e] == row[j]['per_emotion'][e] else "n/a"
                     for e in emotions]
            print(f"| {name} | " + " | ".join(cells) + " |")


def speed_table(repeats: int = 5) -> dict[str, dict[str, float]]:
    """Return {setting: {"gl_ms", "diff_forward_ms", "diff_backward_ms"}}: CPU ms per frame, best of `repeats`."""
    import torch

    from avatar.appearance import Appearance
    from avatar.emotion import emotion_to_arkit
    from renderers.differentiable import DifferentiableRenderer
    from renderers.gl import GLRenderer
    from renderers.options import RendererOptions

    w = np.stack([emotion_to_arkit(e, 1.0) for e in ("happy", "surprise", "anger", "sad")]).astype(np.float32)
    out: dict[str, dict[str, float]] = {}
    for name, flags in SETTINGS.items():
        opts = RendererOptions(width=256, height=256, samples=4, appearance=Appearance(**flags))
        row: dict[str, float] = {}
        with GLRenderer(options=opts) as gl:
            gl.render(w[0])
            best = np.inf
            for _ in range(repeats):
                t = time.process_time()
                for x in w:
                    gl.render(x)
                best = min(best, (time.process_time() - t) / len(w))
            row["gl_ms"] = round(1000 * best, 2)
        with DifferentiableRenderer(options=opts) as d:
            fwd = bwd = np.inf
            for _ in range(repeats):
                x = torch.from_numpy(w[:1]).requires_grad_()
                t = time.process_time()
                img = d(x)
                fwd = min(fwd, time.process_time() - t)
                img.mean().backward()
                bwd = min(bwd, time.process_time() - t)
            row["diff_forward_ms"], row["diff_backward_ms"] = round(1000 * fwd, 1), round(1000 * bwd, 1)
        out[name] = row
    return out


def main() -> None:
    """Run the sweep and the timings; print markdown tables (and write JSON with --json)."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--skip-fidelity", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine())
    result: dict[str, Any] = {"machine": machine(), "tuned_on": TUNED_ON, "held_out": HELD_OUT}
    if not args.skip_speed:
        result["speed"] = speed_table()
        print("\n| setting | GL ms/frame | differentiable forward ms | forward+backward ms |\n|---|---|---|---|")
        for name, row in result["speed"].items():
            print(f"| {name} | {row['gl_ms']} | {row['diff_forward_ms']} | {row['diff_backward_ms']} |")
    if not args.skip_fidelity:
        from avatar.app.judges import make_recognizer

        recognizers = {j: make_recognizer(j, "cpu", detect_faces=False) for j in JUDGES}
        result["fidelity"] = fidelity_table(recognizers)
        print_table(result["fidelity"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
