"""Returns nothing; issues the toolkit's warnings: one category, one line each, and renamed-option notices.

Library code warns through `warn` (an `AvatarWarning`, a `UserWarning`) so a caller can filter the
toolkit's warnings as one kind. `renamed` tells a caller that an option has a new name (an
`AvatarDeprecationWarning`, a `FutureWarning`, so Python shows it by default). The CLI installs
`one_line_warnings`, which prints every warning as `emoavatar: warning: <first line>` on stderr,
without Python's file, line and source lines.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class AvatarWarning(UserWarning):
    """Something the toolkit changed or guessed for the caller (a clipped weight, an assumed frame rate)."""


class AvatarDeprecationWarning(AvatarWarning, FutureWarning):
    """An old option spelling that still works; the message names the new one."""


def warn(message: str, stacklevel: int = 2) -> None:
    """Issue `message` (one line) as an `AvatarWarning` attributed to the caller's caller by default."""
    warnings.warn(message, AvatarWarning, stacklevel=stacklevel + 1)


def renamed(old: str, new: str, stacklevel: int = 2) -> None:
    """Warn once per call site that option `old` is now spelled `new` (e.g. `renamed("recognizer=", "judge=")`)."""
    warnings.warn(f"{old} is now {new}", AvatarDeprecationWarning, stacklevel=stacklevel + 1)


def pick_renamed(new_name: str, new_value: Any, old: dict[str, Any], default: Any = None, stacklevel: int = 2) -> Any:
    """Return the value of an option that has old spellings: `new_value` unless one of `old` ({name=: value}) was given.

    Each old spelling given warns that it is now `new_name`; giving the new and an old spelling with different
    values raises, since one of them would be silently dropped.
    """
    from avatar.errors import AvatarInputError

    value = new_value
    for name, v in old.items():
        if v is None:
            continue
        renamed(name, new_name, stacklevel=stacklevel + 1)
        if new_value is not None and _differs(new_value, default) and _differs(new_value, v):
            raise AvatarInputError(f"{name} and {new_name} both given: use only {new_name}")
        value = v
    return default if value is None else value


def _differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except (TypeError, ValueError):  # arrays and other values without one truth value
        return a is not b


def format_one_line(message: Warning | str, prefix: str = "emoavatar: warning: ") -> str:
    """Return a warning as one line: the prefix and the message's first line."""
    lines = str(message).strip().splitlines()
    return prefix + (lines[0] if lines else type(message).__name__)


@contextmanager
def one_line_warnings(stream: TextIO | None = None, prefix: str = "emoavatar: warning: ") -> Iterator[None]:
    """Within the block, print each warning as one line `emoavatar: warning: ...` (each distinct message once)."""
    seen: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
             line: str | None = None) -> None:
        text = format_one_line(message, prefix)
        if text in seen:
            return
        seen.add(text)
        out = stream or sys.stderr
        try:
            out.write(text + "\n")
        except (OSError, ValueError):  # a closed stderr must not turn a warning into a crash
            pass

    # Only how warnings print changes: which ones show stays Python's (and the caller's -W) choice.
    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
