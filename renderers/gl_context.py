"""Headless OpenGL contexts (moderngl over EGL): made once, bound to their thread, made current before each use.

Every GL user in-process (`GLRenderer`, `GLVisibilityRasterizer`) goes through `create_context` and `make_current`,
so whichever was used last, a renderer draws into its own context.
"""

from __future__ import annotations

import threading
from typing import Any

from avatar.errors import SetupError

SOFTWARE_RASTERIZERS = ("llvmpipe", "softpipe", "swrast", "lavapipe")
"""GL_RENDERER names of CPU rasterizers: there MSAA shades every sample and costs more than supersampling."""

# The GL context that is current, per thread (GL binds a context to a thread). moderngl does not switch
# contexts by itself, so a renderer used again after another renderer was created, or from another
# thread, would draw into the wrong one unless it is made current first.
_current = threading.local()
# How many contexts this process has made: a process that made one has Mesa's state (and its rasteriser threads),
# which a forked child must not inherit (renderers.workers forks only before the first).
_made = 0


def create_context(backend: str | None = "egl") -> Any:
    """Return a new headless moderngl context, current on this thread, which it stays bound to.

    Raises SetupError naming the packages to install when the machine has no GL stack.
    """
    import moderngl

    global _made
    _made += 1  # counted before the attempt: a failed one may have initialised EGL too
    try:
        ctx = moderngl.create_standalone_context(backend=backend) if backend else moderngl.create_standalone_context()
    except Exception as e:  # the GL stack is missing: say which packages provide it
        raise SetupError(
            f"cannot create a headless OpenGL context ({e}); install EGL/Mesa: "
            "apt-get install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri"
        ) from None
    ctx.extra = {"thread": threading.get_ident()}
    _current.ctx = ctx  # a new standalone context is current on the thread that made it
    return ctx


def contexts_made() -> int:
    """Return how many GL contexts this process has made (0: a child may be forked without GL state)."""
    return _made


def make_current(ctx: Any) -> None:
    """Make the moderngl context `ctx` current on this thread (cheap when it already is); any GL user in-process calls this.

    Raises SetupError when called from a thread other than the one that created `ctx`: a GL context is
    bound to one thread, and drawing from another would silently draw nothing.
    """
    owner = (getattr(ctx, "extra", None) or {}).get("thread")
    if owner is not None and owner != threading.get_ident():
        raise SetupError("this renderer's GL context belongs to another thread: create one renderer per thread "
                         "(or run all GL calls on one thread, as the playground does)")
    if getattr(_current, "ctx", None) is not ctx:
        ctx.__enter__()
        _current.ctx = ctx


def release_context(ctx: Any) -> None:
    """Release the moderngl context `ctx` (returns None), first forgetting it as this thread's current one."""
    if getattr(_current, "ctx", None) is ctx:
        _current.ctx = None
    ctx.release()


def is_software_rasterizer(ctx: Any) -> bool:
    """Return True when `ctx` draws on the CPU (llvmpipe and kin), where per-fragment work is the cost."""
    name = str(ctx.info["GL_RENDERER"]).lower()
    return any(s in name for s in SOFTWARE_RASTERIZERS)
