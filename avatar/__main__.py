"""`python -m avatar`: the `emoavatar` command line (same subcommands, same exit codes).

The one core module that reaches the top layer: it is the program's entry point, not a part the
layers build on, so the core contract lists it with this single import ignored (pyproject.toml).
"""

from __future__ import annotations

import sys

from avatar.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
