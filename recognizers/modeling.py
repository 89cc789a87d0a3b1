"""Config recording and safetensors save/load for the recognizers' torch models (diffusers-style, no diffusers).

    class MyNet(ModelMixin, nn.Module):
        @register_to_config
        def __init__(self, width: int = 8): ...

    net.save_pretrained("net.safetensors")            # weights + config (+ your metadata) in one file
    net = MyNet.from_pretrained("net.safetensors", device="cpu")

The config travels in the safetensors header (`metadata["config"]`, JSON), so one file is the
whole checkpoint. Loading is strict: a missing or unexpected tensor is an error naming it, never
silently skipped. Only local paths are read; nothing is downloaded.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

from avatar.device import resolve_device
from avatar.errors import AvatarInputError, FileFormatError
from avatar.io.atomic import atomic_path

T = TypeVar("T", bound="ModelMixin")

WEIGHTS_NAME = "model.safetensors"


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    raise TypeError(f"config value {v!r} of type {type(v).__name__} is not JSON-serialisable; use plain numbers, strings, lists")


def register_to_config(init: Callable[..., None]) -> Callable[..., None]:
    """Return `init` wrapped so the (defaults-filled) keyword arguments are kept in `self.config`."""

    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        config = {k: _jsonable(v) for k, v in bound.arguments.items() if k != "self"}
        init(self, *args, **kwargs)
        # Set after __init__ so nn.Module's own __init__ has run.
        object.__setattr__(self, "_config", config)

    return wrapper


class ModelMixin:
    """Mixin giving a torch model `config`, `save_pretrained` and `from_pretrained` (safetensors)."""

    _config: dict[str, Any]

    @property
    def config(self) -> dict[str, Any]:
        """Return a copy of the constructor arguments recorded by `@register_to_config`."""
        return json.loads(json.dumps(getattr(self, "_config", {})))

    def save_pretrained(self, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
        """Return the written path: one .safetensors file holding the weights, the config and `metadata`.

        A path without a .safetensors suffix is taken as a folder and gets `model.safetensors` inside.
        """
        from safetensors.torch import save_file

        target = Path(path)
        if target.suffix != ".safetensors":
            target = target / WEIGHTS_NAME
        header = {str(k): str(v) for k, v in (metadata or {}).items()}
        header.update({"format": "pt", "class": type(self).__name__, "config": json.dumps(self.config, sort_keys=True)})
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata=header)
        return target

    @classmethod
    def from_pretrained(cls: type[T], path: str | os.PathLike, device: Any = "cpu") -> T:
        """Return the model stored at `path` (a .safetensors file, or a folder holding model.safetensors), in eval mode."""
        tensors, header = read_checkpoint(path)
        name = header.get("class")
        if name is not None and name != cls.__name__:
            raise FileFormatError(f"{str(path)!r} holds a {name}, not a {cls.__name__}: load it with {name}.from_pretrained")
        try:
            config = json.loads(header["config"])
        except (KeyError, json.JSONDecodeError):
            raise FileFormatError(f"{str(path)!r} has no model config in its header: write it with save_pretrained") from None
        model = cls(**config)
        missing, unexpected = _key_diff(model.state_dict(), tensors)  # type: ignore[attr-defined]
        if missing or unexpected:
            raise FileFormatError(
                f"{str(path)!r} does not match {cls.__name__}{config}: missing {missing[:4]}, unexpected {unexpected[:4]}"
            )
        model.load_state_dict(tensors, strict=True)  # type: ignore[attr-defined]
        return model.to(resolve_device(device)).eval()  # type: ignore[attr-defined,no-any-return]


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (tensors by name, header metadata) of a .safetensors checkpoint on the local disk."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    p = Path(path).expanduser()
    if p.is_dir():
        p = p / WEIGHTS_NAME
    if not p.is_file():
        raise AvatarInputError(f"weights file {str(p)!r} not found: pass a local .safetensors path written by save_pretrained")
    try:
        with safe_open(str(p), framework="pt") as f:
            header = dict(f.metadata() or {})
        tensors = load_file(str(p))
    except (SafetensorError, OSError) as e:
        raise FileFormatError(f"{str(p)!r} is not a readable safetensors file ({e}): re-export it with save_pretrained") from None
    return tensors, header


def _key_diff(expected: dict[str, Any], got: dict[str, Any]) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
