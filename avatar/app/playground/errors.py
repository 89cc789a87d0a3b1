"""Returns callbacks whose failures reach the browser as one line (a gr.Error), never as a stack trace."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from avatar.errors import AvatarInputError, SetupError

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("emoavatar.playground")


def one_line(message: str, hide: Path | None = None) -> str:
    """Return `message` on one line, with paths under `hide` (the server's temp folder) cut to their file names."""
    text = " ".join(str(message).split())
    if hide is not None:
        # Server paths mean nothing to the user in the browser; the file's own name does.
        text = re.sub(re.escape(str(hide)) + r"[^\s'\"]*/", "", text)
    return text


def user_errors(hide: Path | None = None) -> Callable[[F], F]:
    """Return a decorator: input and setup errors become `gr.Error(one line)`; bugs are logged here and reported briefly."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            import gradio as gr

            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except (AvatarInputError, SetupError) as e:
                raise gr.Error(one_line(str(e), hide), print_exception=False) from None
            except Exception as e:  # a bug: the traceback goes to the server log, one line to the browser
                log.exception("playground callback %s failed", fn.__name__)
                raise gr.Error(one_line(f"internal error ({type(e).__name__}): {e}; the server log has the details", hide),
                               print_exception=False) from None

        return wrapper  # type: ignore[return-value]

    return decorate
