"""Returns paths for crash-safe writing: write to a temp file beside the target, then rename.

A reader never sees a half-written output, and a failed write leaves any earlier file intact.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from avatar.errors import OutputPathError


def check_output_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Return `path` resolved, after checking its folder is writable and it stays inside `root`.

    Raises `OutputPathError` (one line) for a path that escapes `root` or a folder that
    cannot be created or written.
    """
    p = Path(path).expanduser()
    if root is not None:
        root_r = Path(root).expanduser().resolve()
        resolved = (root_r / p).resolve() if not p.is_absolute() else p.resolve()
        if resolved != root_r and root_r not in resolved.parents:
            raise OutputPathError(
                f"output path {str(path)!r} escapes the output folder {str(root_r)!r}: use a path inside it"
            )
        p = resolved
    if p.exists() and p.is_dir():
        raise OutputPathError(f"output path {str(path)!r} is a folder: give a file name such as out.png")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputPathError(f"cannot create output folder {str(parent)!r}: {e.strerror}; choose a writable path") from None
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"output folder {str(parent)!r} is not writable: choose a writable path")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed.

    The temporary name keeps the target's suffix so writers that infer the format from it work.
    """
    target = check_output_path(path, root)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); the result gets the usual permissions for new files
    # (set after the writer ran, since some writers replace the file they are given).
    umask = os.umask(0)
    os.umask(umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
