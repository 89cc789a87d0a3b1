"""docs/options.md is the truth about option names: every spelling it lists exists, and every option the code has is listed."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACADE = ("pose", "render", "contact_sheet", "score", "animate", "portrait", "refine", "save_video")
NOT_OPTIONS = {"x", "frames", "boxes", "session", "render", "path"}
"""Facade parameters that are the data or the caller's own objects (`path`: the file `save_video` writes, the CLI's
--output), not options with a name in other interfaces."""
NAME_EXCEPTIONS = {"raw audio's sample rate"}
"""Rows whose CLI flag is not the Python name in kebab case (stream's --rate predates sample_rate; both are kept)."""


def _table() -> list[dict[str, list[str]]]:
    text = (ROOT / "docs" / "options.md").read_text()
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not line.startswith("|") or cells[0] in ("option", "---"):
            continue
        names = [re.findall(r"`([^`]+)`", c) for c in cells[1:]]
        rows.append({"option": [cells[0]], "python": names[0], "cli": names[1], "playground": names[2],
                     "manifest": names[3], "old": names[4]})
    assert len(rows) > 40, "docs/options.md lost its table"
    return rows


def _facade_params() -> dict[str, set[str]]:
    import avatar

    return {f: set(inspect.signature(getattr(avatar, f)).parameters) for f in FACADE}


def _cli_actions() -> dict[str, list[argparse.Action]]:
    from avatar.app.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [a for a in p._actions if a.option_strings and a.dest != "help"] for name, p in sub.choices.items()}


def _shown_flags(action: argparse.Action) -> list[str]:
    """Return the flags of an action as --help lists them (a BooleanOptionalAction's --no-X is the same option)."""
    flags = list(action.option_strings)
    return [f for f in flags if not (f.startswith("--no-") and "--" + f[5:] in flags)]


def test_every_spelling_in_the_table_exists_in_its_interface() -> None:
    from avatar.app.batch.manifest import KEYS
    from avatar.appearance import Appearance

    params = set().union(*_facade_params().values())
    fields = {f.name for f in dataclasses.fields(Appearance)}
    actions = [a for acts in _cli_actions().values() for a in acts]
    shown = {f for a in actions if a.help != argparse.SUPPRESS for f in a.option_strings}
    hidden = {f for a in actions if a.help == argparse.SUPPRESS for f in a.option_strings}
    playground = "\n".join(p.read_text() for p in (ROOT / "avatar" / "app" / "playground").glob("*.py"))
    for row in _table():
        what = row["option"][0]
        for name in row["python"]:
            if name.startswith("appearance."):
                assert name.split(".", 1)[1] in fields, f"{what}: Appearance has no field {name!r}"
            else:
                assert name in params, f"{what}: no facade function takes {name}="
        for flag in row["cli"]:
            assert flag in shown, f"{what}: no subcommand has {flag}"
        for key in row["manifest"]:
            assert key in KEYS, f"{what}: the manifest has no key {key!r}"
        for label in row["playground"]:
            assert label in playground, f"{what}: no playground control is labelled {label!r}"
        for old in row["old"]:
            if old.startswith("--"):
                assert old in hidden, f"{what}: the old spelling {old} is not accepted (hidden from --help)"
            else:
                assert old.rstrip("=") in params, f"{what}: the old spelling {old} is not accepted"


def test_every_option_of_the_code_is_in_the_table() -> None:
    from avatar.app.batch.manifest import KEYS

    rows = _table()
    python = {n for r in rows for n in r["python"]} | {o.rstrip("=") for r in rows for o in r["old"] if not o.startswith("-")}
    for func, params in _facade_params().items():
        missing = sorted(params - NOT_OPTIONS - python)
        assert not missing, f"avatar.{func} takes {missing}, which docs/options.md does not list"
    manifest = {k for r in rows for k in r["manifest"]}
    assert set(KEYS) <= manifest, f"manifest keys missing from docs/options.md: {sorted(set(KEYS) - manifest)}"
    cli = {f for r in rows for f in r["cli"]}
    used: dict[str, set[str]] = {}
    for name, acts in _cli_actions().items():
        for a in acts:
            if a.help == argparse.SUPPRESS:
                continue
            for f in _shown_flags(a):
                if f.startswith("--"):
                    used.setdefault(f, set()).add(name)
    shared = {f for f, subs in used.items() if len(subs) > 1}
    assert shared <= cli, f"flags of several subcommands missing from docs/options.md: {sorted(shared - cli)}"


def test_one_option_one_name_across_interfaces() -> None:
    for row in _table():
        what = row["option"][0]
        py = {n.removeprefix("appearance.") for n in row["python"]}
        cli = {f.lstrip("-").removeprefix("no-").replace("-", "_") for f in row["cli"]}
        if py and cli and what not in NAME_EXCEPTIONS:
            assert py & cli, f"{what}: Python {sorted(py)} and CLI {sorted(row['cli'])} share no name"
        if py and row["manifest"]:
            assert py & set(row["manifest"]), f"{what}: Python {sorted(py)} and manifest {row['manifest']} share no name"


def test_old_spellings_are_only_old_spellings() -> None:
    """No current spelling is also listed as old, so the table never tells a user to move to a deprecated name."""
    rows = _table()
    current = {n for r in rows for k in ("python", "cli") for n in r[k]}
    for row in rows:
        for old in row["old"]:
            assert old.rstrip("=") not in current, f"{old} is listed both as current and as old"


@pytest.mark.parametrize("flag", ["--judge", "--view", "--identity", "--skin", "--background"])
def test_the_look_and_judge_flags_mean_one_thing_everywhere(flag: str) -> None:
    """Every subcommand that has one of these flags gives it the same default and kind of value."""
    seen = {}
    for name, acts in _cli_actions().items():
        for a in acts:
            if flag in a.option_strings and a.help != argparse.SUPPRESS:
                seen[name] = (a.type.__name__ if a.type else None, a.nargs)
    assert len(seen) >= 2 and len(set(seen.values())) == 1, seen
