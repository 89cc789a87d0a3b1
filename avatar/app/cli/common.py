"""The CLI's shared argument parsers and helpers: colours, number lists, the look options, the camera."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from avatar.errors import AvatarInputError


def parse_colour(text: str) -> tuple[float, float, float] | None:
    """Return an RGB triple in 0..1 from #rrggbb, r,g,b, a colour name, or None for 'transparent'."""
    t = text.strip().lower()
    if t in ("transparent", "none"):
        return None
    named = {"white": "#ffffff", "black": "#000000", "grey": "#808080", "gray": "#808080", "green": "#00b140"}
    t = named.get(t, t)
    if t.startswith("#") and len(t) == 7:
        try:
            return tuple(int(t[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
        except ValueError:
            pass
    parts = t.split(",")
    if len(parts) == 3:
        try:
            vals = tuple(float(p) for p in parts)
            if all(0 <= v <= 1 for v in vals):
                return vals  # type: ignore[return-value]
        except ValueError:
            pass
    raise AvatarInputError(f"background {text!r} is not a colour: use #rrggbb, r,g,b in 0..1, a name, or 'transparent'")


def parse_va(text: str) -> tuple[float, float]:
    """Return (valence, arousal) from 'v,a'."""
    try:
        v, a = (float(x) for x in text.split(","))
    except ValueError:
        raise AvatarInputError(f"--va {text!r} is not 'valence,arousal': use two numbers in -1..1, e.g. --va 0.8,0.5") from None
    return v, a


def floats(text: str, what: str) -> tuple[float, ...]:
    """Return the numbers of a comma-separated list; `what` names the option in the error."""
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise AvatarInputError(f"{what} {text!r} is not a comma-separated list of numbers") from None


def add_look_args(p: argparse.ArgumentParser) -> None:
    """Add the look options (view, yaw, identity, head, skin, eyes, background) to a subcommand."""
    g = p.add_argument_group("look")
    g.add_argument("--view", default="front", help="camera: front, three-quarter, profile (default: front)")
    g.add_argument("--yaw", type=float, default=None, help="camera yaw in degrees instead of --view (positive: subject's left)")
    g.add_argument("--identity", type=int, default=None, help="face identity seed from the 100 PCA modes (0 = generic head)")
    g.add_argument("--head", default=None, help="your own glTF/GLB/OBJ head with ARKit-named morph targets")
    g.add_argument("--skin", default="medium", help="skin tone: light, medium, tan, brown, dark (default: medium)")
    g.add_argument("--eyes", default="brown", help="eye colour: brown, blue, green, hazel, grey")
    g.add_argument("--background", default="#ebebf0", help="#rrggbb, r,g,b in 0..1, or 'transparent' (PNG only)")


def camera_from_args(args: argparse.Namespace) -> Any:
    """Return the Camera that --yaw or --view names."""
    from renderers.cameras import Camera

    return Camera.preset(yaw=args.yaw) if args.yaw is not None else Camera.preset(args.view)


def write_sequence_video(renderer: Any, seq: Any, out: str | Path, audio: str | None, progress: bool) -> None:
    """Render every frame of `seq` and stream it to `out` (.mp4 with `audio` muxed, or .gif), with a progress bar."""
    from tqdm.auto import tqdm

    from renderers.writers import save_frames

    frames = tqdm(renderer.iter_frames(seq.weights, seq.head_pose), total=len(seq), desc="render", unit="frame",
                  disable=not progress)
    save_frames(frames, out, fps=seq.fps, audio=audio if Path(out).suffix.lower() == ".mp4" else None, total=len(seq))
