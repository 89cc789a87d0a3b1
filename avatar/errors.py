"""Typed errors for bad input; each message is one line naming the problem and the fix.

The CLI turns any `AvatarInputError` into a one-line message and exit code 2.
"""

from __future__ import annotations


class AvatarInputError(ValueError):
    """Bad user input (name, value, file or path); the message says what and how to fix it."""


class UnknownNameError(AvatarInputError, KeyError):
    """A blendshape, AU or emotion name that the vocabulary does not know."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it one plain line
        return str(self.args[0]) if self.args else ""


class ShapeError(AvatarInputError):
    """An array whose shape does not match what the function documents."""


class FileFormatError(AvatarInputError):
    """A file that cannot be read as the format it claims (names the file and, where known, the line)."""


class OutputPathError(AvatarInputError):
    """An output path that cannot be written, or that escapes the output folder."""


class SetupError(RuntimeError):
    """The machine lacks something the toolkit needs (a GL driver, an optional package); the message says what to install."""
