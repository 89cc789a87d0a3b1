"""`emoavatar serve`: the Gradio playground on 127.0.0.1 (Expression, Speech, Portrait, Fidelity tabs)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

EPILOG = """examples:
  emoavatar serve                          # http://127.0.0.1:7860, this machine only
  emoavatar serve --port 8080
  emoavatar serve --host 0.0.0.0           # reachable from your network: only on one you trust

needs: pip install "emoavatar[playground]"   (gradio; nothing is downloaded at run time)
uploads are limited to 20 MB and 60 s of audio; uploads and outputs live in a temp folder removed on exit.
"""


def cmd_serve(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from avatar.app.playground.app import SHARE_REFUSED
    from avatar.errors import AvatarInputError

    if args.share:  # refused before gradio is even imported
        raise AvatarInputError(SHARE_REFUSED)
    if not 0 < args.port < 65536:
        raise AvatarInputError(f"--port {args.port}: use 1..65535")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ImportError('the playground needs gradio: pip install "emoavatar[playground]"') from None
    from avatar.app.playground.app import launch

    print(f"emoavatar serve: starting on {args.host}:{args.port} ...", flush=True)
    demo, pg, _ = launch(args.host, args.port, image_size=args.size, device=args.device, started=started,
                         log=lambda line: print(f"emoavatar serve: {line}", flush=True))

    def stop(signum: int, frame: Any) -> None:  # SIGTERM ends the loop below like Ctrl-C, so the temp folder goes too
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()  # signals can only be set there
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"emoavatar serve: listening on {args.host}: anyone who can reach this machine can use the playground", flush=True)
        print(f"emoavatar serve: open http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port} "
              "(Ctrl-C stops it)", flush=True)
        while demo.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("emoavatar serve: stopping", file=sys.stderr, flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        demo.close(verbose=False)
        pg.close()
    return 0


def register(sub: Any) -> None:
    """Add the serve subcommand to the CLI's subparsers."""
    p = sub.add_parser("serve", help="start the Gradio playground (expression, speech, fidelity) on 127.0.0.1",
                       description="Start the Gradio playground in the browser: pose the head by emotion, valence/arousal "
                                   "or action units with the judges' read-out, animate it from speech, and sweep the "
                                   "emotions through the scorer. Bound to 127.0.0.1 unless --host says otherwise.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    p.add_argument("--share", action=argparse.BooleanOptionalAction, default=False,
                   help="a public gradio.live link: refused, the toolkit runs offline")
    p.add_argument("--size", type=int, default=384, help="size of the Expression tab's render in pixels (default 384)")
    p.add_argument("--device", default="auto", help="judges' torch device: auto, cpu, cuda (default auto)")
    p.set_defaults(func=cmd_serve)
