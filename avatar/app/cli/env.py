"""`emoavatar env`: package versions, the GL renderer string, the torch device, ffmpeg."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_env(args: argparse.Namespace) -> int:
    """Print versions and what the machine offers; return 0 (a broken GL stack is reported, not raised)."""
    import platform
    from importlib import metadata

    from avatar import __version__

    print(f"emoavatar {__version__}  python {platform.python_version()}  {platform.system()} {platform.machine()}")
    for dist in ("numpy", "torch", "moderngl", "trimesh", "imageio-ffmpeg", "pillow", "librosa", "pocketsphinx",
                 "opencv-python-headless", "safetensors", "diffusers"):
        try:
            print(f"  {dist:24s} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            print(f"  {dist:24s} (not installed)")
    try:
        import torch

        cuda = torch.cuda.is_available()
        dev = f"cuda ({torch.cuda.get_device_name(0)})" if cuda else "cpu"
        print(f"torch device (auto): {dev}")
    except ImportError:
        print("torch device: torch not installed")
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl")
        print(f"GL renderer: {ctx.info['GL_RENDERER']} | {ctx.info['GL_VERSION']}")
        ctx.release()
    except Exception as e:  # report, don't fail: env is the command people run when GL is broken
        print(f"GL renderer: unavailable ({e}); install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri")
    try:
        from renderers.writers import ffmpeg_exe

        print(f"ffmpeg: {ffmpeg_exe()}")
    except Exception as e:
        print(f"ffmpeg: unavailable ({e})")
    return 0


def register(sub: Any) -> None:
    """Add the env subcommand to the CLI's subparsers."""
    p = sub.add_parser("env", help="print versions, the GL renderer and the torch device",
                       description="Print package versions, the OpenGL renderer string and the torch device.")
    p.set_defaults(func=cmd_env)
