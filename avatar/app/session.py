"""Returns renderers and recognizers from a `Session`: the state behind the one-line paths, owned and closable.

The facade's functions (`avatar.render`, `avatar.score`, ...) keep one default session so a loop of
calls reuses one GL context and builds a recognizer once, instead of rebuilding them per call. The
session is bounded (a few renderers, least recently used closed first), closes everything on
`close()` (and at interpreter exit), and never re-aims an object a caller holds: `renderer()` returns
a renderer the session keeps for itself, so callers who want their own use `GLRenderer` directly.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from avatar.app.judges import make_recognizer
from avatar.constants import DEFAULT_BACKGROUND

if TYPE_CHECKING:
    import torch

    from avatar.protocols import RGB
    from avatar.appearance import Appearance
    from avatar.head import BlendshapeHead
    from avatar.protocols import Recognizer
    from renderers.cameras import Camera
    from renderers.gl import GLRenderer



def _key_part(x: Any) -> Any:
    """Return a hashable stand-in for a renderer setting (arrays and lists become tuples)."""
    if isinstance(x, (list, tuple, np.ndarray)):
        return tuple(np.ravel(np.asarray(x, dtype=object)).tolist())
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if hasattr(x, "pose"):  # a head object: the session keeps it alive with its renderer, so its id stays unique
        return ("head", id(x))
    return x


class Session:
    """Holds at most `max_renderers` GL renderers and the recognizers built so far; `close()` releases them."""

    def __init__(self, max_renderers: int = 4) -> None:
        self.max_renderers = int(max_renderers)
        self._renderers: OrderedDict[tuple[Any, ...], GLRenderer] = OrderedDict()
        self._recognizers: dict[tuple[str, str, bool], Recognizer] = {}
        self._lock = threading.Lock()

    def renderer(self, head: str | os.PathLike | BlendshapeHead | None = None, identity: int | None = None, width: int = 512,
                 height: int = 512, background: tuple[float, float, float] | None = DEFAULT_BACKGROUND, skin: str | RGB = "medium",
                 eyes: str | RGB = "brown", view: str | float | Camera = "front", appearance: Appearance | None = None,
                 brow_lowerer: float | None = None) -> GLRenderer:
        """Return this session's GLRenderer for these settings (built once, reused; the view and the brow lowerer are part of the key).

        `head` is a head file, None for the shipped head, or a `BlendshapeHead` already loaded. `appearance` (an
        `avatar.appearance.Appearance`) sets the shading switches (wrinkles, cavity, catch-lights, mouth shadow);
        `skin` and `eyes` override its colours. `brow_lowerer` is the corrective brow lowerer's strength 0..2
        (`avatar.brow_lowerer`; None: the shipped head's `BROW_LOWERER`, a head file's own shapes); a head object
        already carries its shapes, so it takes no strength (build it with `default_head(brow_lowerer=...)`).
        """
        from dataclasses import replace

        from avatar.appearance import Appearance
        from avatar.brow_lowerer import BROW_LOWERER, check_brow_lowerer
        from avatar.errors import AvatarInputError
        from avatar.io.headfile import load_head
        from avatar.validation import check_size
        from renderers.cameras import resolve_camera
        from renderers.gl import GLRenderer
        from renderers.options import RendererOptions

        width, height = check_size(width, height)
        camera = resolve_camera(view)
        look = replace(appearance or Appearance(), skin=skin, eyes=eyes)
        brow_lowerer = check_brow_lowerer(brow_lowerer)
        if brow_lowerer is not None and hasattr(head, "pose"):
            raise AvatarInputError("brow_lowerer= applies to a head the session loads (None or a head file): a loaded head "
                                   "carries its own shapes; build it with default_head(brow_lowerer=...) or load_head(..., brow_lowerer=...)")
        if brow_lowerer is None and head is None:
            brow_lowerer = BROW_LOWERER  # the shipped head's default: one renderer for None and the same strength spelled out
        key = tuple(_key_part(x) for x in (head, identity, width, height, background, look, camera, brow_lowerer))
        with self._lock:
            renderer = self._renderers.get(key)
            if renderer is not None:
                self._renderers.move_to_end(key)
                return renderer
            opts = RendererOptions(width=width, height=height, background=background, camera=camera, appearance=look)
            mesh = (head.with_identity(identity) if hasattr(head, "pose")
                    else load_head(head, identity=identity, brow_lowerer=brow_lowerer))
            renderer = GLRenderer(mesh, opts)
            self._renderers[key] = renderer
            while len(self._renderers) > self.max_renderers:
                _, old = self._renderers.popitem(last=False)
                old.close()
            return renderer

    def recognizer(self, name: str = "fer2013", device: str | torch.device = "auto", detect_faces: bool = True) -> Recognizer:
        """Return this session's recognizer `name` on `device` (built on first use, then reused)."""
        key = (name.lower().replace("_", "-"), str(device), bool(detect_faces))
        with self._lock:
            rec = self._recognizers.get(key)
            if rec is None:
                rec = self._recognizers[key] = make_recognizer(name, device, detect_faces=detect_faces)
            return rec

    def close(self) -> None:
        """Release every GL context and drop the recognizers (the session can be used again afterwards)."""
        with self._lock:
            for r in self._renderers.values():
                r.close()
            self._renderers.clear()
            for rec in self._recognizers.values():
                close = getattr(rec, "close", None)
                if close is not None:
                    close()
            self._recognizers.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: Session | None = None


def default_session() -> Session:
    """Return the process's default Session (made on first use, closed at exit)."""
    global _default
    if _default is None:
        _default = Session()
        atexit.register(_default.close)
    return _default
