"""Who may import whom (issue 14 item 4): every `unirouter.*` import of every module under
src/unirouter is checked against the table of docs/architecture.md, which is read here, so the
document and the code cannot drift apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import unirouter

SRC = Path(unirouter.__file__).parent
DOC = Path(__file__).parent.parent / "docs" / "architecture.md"
ROOT = "(root)"

Rules = dict[str, frozenset[str]]


def rules() -> Rules:
    """The table "Packages and who may import whom" of docs/architecture.md."""
    text = DOC.read_text(encoding="utf-8").split("## Packages and who may import whom", 1)[1]
    text = text.split("\n## ", 1)[0]
    table: Rules = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 2:
            continue
        package = cells[0].strip("`")
        allowed = frozenset(re.findall(r"`([^`]+)`", cells[1]))
        if cells[1].startswith("every package but"):
            allowed = frozenset(packages()) - allowed
        table[package] = allowed
    return table


def packages() -> list[str]:
    """The packages and top-level modules of unirouter, ``(root)`` for its ``__init__``."""
    found = {path.stem for path in SRC.glob("*.py") if path.stem != "__init__"}
    found |= {path.parent.name for path in SRC.glob("*/__init__.py")}
    return sorted({*found, ROOT})


def module_name(path: Path) -> str:
    """``unirouter.server.host`` for src/unirouter/server/host.py."""
    parts = ("unirouter", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``unirouter.a.b`` is a module or package of the source tree."""
    relative = Path(*name.split(".")[1:])
    return (SRC / relative).with_suffix(".py").exists() or (SRC / relative / "__init__.py").exists()


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Line and module of each ``unirouter`` import anywhere in ``tree`` (functions included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.append((node.lineno, candidate if is_module(candidate) else node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "unirouter"]


def package_of(module: str) -> str:
    """``server`` for ``unirouter.server.host``; ``(root)`` for ``unirouter``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def allows(allowed: frozenset[str], target: str) -> bool:
    """Whether ``target`` (a module) is inside one of the allowed packages or modules."""
    if target == "unirouter":
        return ROOT in allowed
    inner = target.split(".", 1)[1]
    return any(inner == entry or inner.startswith(entry + ".") for entry in allowed)


def violations(module: str, source: str, table: Rules) -> list[str]:
    """Every import of ``source`` (the text of ``module``) that the table does not allow."""
    mine = package_of(module)
    out = []
    for line, target in imported(ast.parse(source)):
        theirs = package_of(target)
        if theirs != mine and not allows(table.get(mine, frozenset()), target):
            out.append(f"{module}:{line} imports {target} ({mine} may not import {theirs})")
    return out


def test_every_package_has_a_row_and_every_row_a_package() -> None:
    """A new package must say what it may import; a row without a package is stale."""
    assert sorted(rules()) == packages()


def test_every_import_follows_the_table() -> None:
    """Issue 14 item 4: imports point inwards: no shell in the engine, no simulator in the
    server and no server in the simulator, pure analytics, the CLI imported only by itself."""
    table = rules()
    found = [
        problem
        for path in sorted(SRC.rglob("*.py"))
        for problem in violations(module_name(path), path.read_text(encoding="utf-8"), table)
    ]
    assert found == []


def test_cli_modules_never_import_the_cli_package() -> None:
    """The command tree has no import cycle: `unirouter.cli` lists its commands' modules, which
    import only `cli._shared` and `cli._lazy`, never `unirouter.cli` itself."""
    found = [
        f"{module_name(path)}:{line}"
        for path in sorted((SRC / "cli").glob("_*.py"))
        for line, target in imported(ast.parse(path.read_text(encoding="utf-8")))
        if target == "unirouter.cli"
    ]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("unirouter.engine.dispatch", "from unirouter.server import host",
         "unirouter.engine.dispatch:1 imports unirouter.server.host (engine may not import server)"),
        ("unirouter.server.routes.admin", "def f():\n    from unirouter.sim import kpis",
         "unirouter.server.routes.admin:2 imports unirouter.sim (server may not import sim)"),
        ("unirouter.sim.runner", "import unirouter.storage.sqlite",
         "unirouter.sim.runner:1 imports unirouter.storage.sqlite (sim may not import storage)"),
        ("unirouter.config.load", "from unirouter.engine import engine",
         "unirouter.config.load:1 imports unirouter.engine.engine (config may not import engine)"),
    ],
)  # fmt: skip
def test_a_forbidden_import_is_reported(module: str, source: str, expected: str) -> None:
    """The check finds forbidden imports at module and function level, and a dotted allowance
    (`config` may read `engine.events`) does not open the rest of the package."""
    assert violations(module, source, rules()) == [expected]


def test_allowed_imports_are_not_reported() -> None:
    """Imports inside a package, of an allowed package, or of the one allowed module pass."""
    source = (
        "from unirouter.engine import events\n"
        "from unirouter.config import model\n"
        "import unirouter.errors\n"
    )
    assert violations("unirouter.config.channel_checks", source, rules()) == []


# -- inside the engine: its modules and who may call whom ----------------------------------------------

ENGINE = SRC / "engine"


def _engine_tables() -> tuple[dict[str, frozenset[str]], Rules]:
    """The group table and the rule table of "Engine modules and who may call whom"."""
    text = DOC.read_text(encoding="utf-8").split("#### Engine modules and who may call whom", 1)[1]
    text = text.split("\n#", 1)[0]
    groups: dict[str, frozenset[str]] = {}
    table: Rules = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 2:
            continue
        name = cells[0].strip("`")
        names = frozenset(re.findall(r"`([^`]+)`", cells[1]))
        if name in ("records", "moves") and name not in groups:
            groups[name] = names
        else:
            table[name] = names
    return groups, table


def engine_rules() -> Rules:
    """Per engine module, the engine modules it may import (groups expanded)."""
    groups, table = _engine_tables()
    group_of = {module: group for group, members in groups.items() for module in members}

    def expand(names: frozenset[str]) -> frozenset[str]:
        return frozenset().union(*(groups.get(n, {n}) for n in names))

    return {
        module: expand(table[group_of.get(module, module)])
        for module in [*group_of, *(m for m in table if m not in groups)]
    }


def engine_violations(module: str, source: str, table: Rules) -> list[str]:
    """Every import of another engine module by ``module`` (a stem) that the table does not allow."""
    allowed = table.get(module, frozenset())
    out = []
    for line, target in imported(ast.parse(source)):
        parts = target.split(".")
        if parts[:2] != ["unirouter", "engine"] or len(parts) < 3 or parts[2] == module:
            continue
        if parts[2] not in allowed:
            out.append(f"engine.{module}:{line} imports engine.{parts[2]}")
    return out


def test_every_engine_module_has_a_row_and_every_row_a_module() -> None:
    """Issue 14: a new engine module must say which engine modules it may import."""
    assert sorted(engine_rules()) == sorted(path.stem for path in ENGINE.glob("*.py"))


def test_engine_modules_import_only_what_the_table_allows() -> None:
    """Issue 14 item 1: the state object and the reads know no move; no move fires a timer,
    settles, installs or reaches the façade; only the façade begins and settles a command."""
    table = engine_rules()
    found = [
        problem
        for path in sorted(ENGINE.glob("*.py"))
        for problem in engine_violations(path.stem, path.read_text(encoding="utf-8"), table)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("core", "from unirouter.engine import offers", "engine.core:1 imports engine.offers"),
        ("offers", "def f():\n    from unirouter.engine import settle",
         "engine.offers:2 imports engine.settle"),
        ("queueing", "from unirouter.engine.engine import Engine",
         "engine.queueing:1 imports engine.engine"),
    ],
)  # fmt: skip
def test_a_forbidden_engine_import_is_reported(module: str, source: str, expected: str) -> None:
    """The engine check sees a move imported by the state object, a settle imported by a move at
    function level, and the façade imported by a move; calls inside the moves pass."""
    assert engine_violations(module, source, engine_rules()) == [expected]
    assert (
        engine_violations("offers", "from unirouter.engine import queueing", engine_rules()) == []
    )
