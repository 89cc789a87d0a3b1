"""Returns module-level `__getattr__`/`__dir__` that import names on first use (keeps package imports instant)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, table: dict[str, str], namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return (__getattr__, __dir__) for `package` resolving `table` entries ("module:attribute") on first access.

    A resolved value is stored in `namespace` (the package's globals), so each import happens once.
    """
    names = sorted(table)

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = target.split(":")
        value = getattr(import_module(module), attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
