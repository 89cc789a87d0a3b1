"""The shape of the house: layers kept (import-linter), no import cycles, every module importable alone, ruff clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("avatar", "generators", "renderers", "recognizers")


def _graph():  # noqa: ANN202 - grimp's ImportGraph
    grimp = pytest.importorskip("grimp")
    # Imports under `if TYPE_CHECKING:` never run, so they are no cycle (a module may name a type of the one that uses it).
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return path


def test_import_contracts_are_kept() -> None:
    out = subprocess.run([_tool("lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_every_core_module_is_in_the_core_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"].startswith("avatar core"))
    listed = set(core["source_modules"])
    graph = _graph()
    children = set(graph.find_children("avatar")) - {"avatar.app"}
    assert children <= listed, f"core modules missing from the contract: {sorted(children - listed)}"


def test_no_import_cycles_function_local_imports_included() -> None:
    graph = _graph()
    modules = sorted(graph.modules)
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d in graph.modules and d != m} for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # Tarjan's strongly connected components, iterative enough for this graph's depth
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in modules:
        if m not in index:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = sorted(_graph().modules)

    def try_import(name: str) -> tuple[str, int, str]:
        r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
        return name, r.returncode, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [(n, err) for n, rc, err in pool.map(try_import, modules) if rc != 0]
    assert not failed, f"modules that fail to import alone: {failed}"


def test_ruff_is_clean() -> None:
    out = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
