"""The `emoavatar` command line: one module per subcommand (render, sheet, animate, score, fidelity, refine, portrait, batch, env).

Bad input prints one line, `emoavatar: error: ...`, and exits with code 2; outputs are written
atomically, so a failed run never leaves a half-written file. Every subcommand module is imported
here directly: a subcommand whose module is broken fails loudly instead of vanishing from `--help`.
"""

from __future__ import annotations

import argparse
import difflib
import re
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from avatar.app.cli import animate, batch, env, fidelity, portrait, refine, render, score, serve, sheet, stream
from avatar.errors import AvatarInputError, SetupError
from avatar.notices import one_line_warnings

SUBCOMMANDS = (render, sheet, animate, stream, score, fidelity, refine, portrait, batch, serve, env)
"""The subcommand modules, in the order `--help` lists them; each has `register(subparsers)`."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, `emoavatar: error: ...; run '... --help'`, exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print the one-line error (with a did-you-mean for a mistyped choice) and exit with code 2."""
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
            close = difflib.get_close_matches(m.group(1), choices, n=1)
            message = f"{message.split(':', 1)[0]}: invalid choice {m.group(1)!r}" + (f" (did you mean {close[0]!r}?)" if close else "") + \
                f"; use one of {', '.join(choices)}"
        self.exit(2, f"emoavatar: error: {message}; run '{self.prog} --help' for the options\n")


class Terminated(SystemExit):
    """Raised by the SIGTERM handler, so the `finally` blocks of atomic writes run and remove their temp files."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(128 + signum)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `emoavatar` command."""
    from avatar import __version__

    parser = OneLineParser(
        prog="emoavatar", description="Emotional avatars: pose, render, animate and score ARKit blendshape heads.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'emoavatar COMMAND --help' for a command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"emoavatar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 bad input, 1 other failure, 130 interrupted; SIGTERM exits 143)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    # SIGTERM's default action kills the process without unwinding, leaving the hidden temp file of an
    # atomic write behind; raising instead runs every cleanup. Signals can only be set from the main thread.
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if threading.current_thread() is threading.main_thread() else None
    try:
        # Warnings (an assumed frame rate, clipped weights, a renamed option) print as one line each,
        # `emoavatar: warning: ...`, not as Python's block with a file name and a source line.
        with one_line_warnings():
            return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """Return the exit code of the chosen subcommand, turning known errors into one line on stderr."""
    try:
        return int(args.func(args) or 0)
    except AvatarInputError as e:
        print(f"emoavatar: error: {e}", file=sys.stderr)
        return 2
    except SetupError as e:
        print(f"emoavatar: setup error: {e}", file=sys.stderr)
        return 1
    except ImportError as e:
        if "pip install" not in str(e):  # a real bug: keep the traceback
            raise
        print(f"emoavatar: setup error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("emoavatar: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
