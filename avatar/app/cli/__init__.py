"""The `emoavatar` command line: one module per subcommand (render, sheet, animate, score, fidelity, env).

Bad input prints one line, `emoavatar: error: ...`, and exits with code 2; outputs are written
atomically, so a failed run never leaves a half-written file. Every subcommand module is imported
here directly: a subcommand whose module is broken fails loudly instead of vanishing from `--help`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from avatar.app.cli import animate, env, fidelity, refine, render, score, sheet
from avatar.errors import AvatarInputError, SetupError

SUBCOMMANDS = (render, sheet, animate, score, fidelity, refine, env)
"""The subcommand modules, in the order `--help` lists them; each has `register(subparsers)`."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `emoavatar` command."""
    from avatar import __version__

    parser = argparse.ArgumentParser(
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
    """Run the CLI; return the exit code (0 ok, 2 bad input, 1 other failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
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
