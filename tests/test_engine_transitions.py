"""The item lifecycle has one writer (SPEC §2): :func:`unirouter.engine.state.move`.

No other code in the engine assigns ``.state`` on anything except the ``WorkItem`` constructor, no
code elsewhere assigns ``.state`` on a name that says item (other packages have their own ``state``
attributes: ``app.state``, followers), and ``move`` refuses a change the documented table does not allow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from unirouter.engine.state import ITEM_TRANSITIONS, IllegalTransition, ItemState, WorkItem, move

SRC = Path(__file__).resolve().parents[1] / "src" / "unirouter"


def _state_writes(tree: ast.AST, *, items_only: bool = False) -> list[tuple[int, str]]:
    """(line, enclosing function) of every assignment whose target is an attribute named state
    (``items_only``: on a plain name containing ``item`` or ``callback``)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = where
            if isinstance(child, ast.FunctionDef | ast.ClassDef):
                name = f"{where}.{child.name}" if where else child.name
            targets: list[ast.expr] = []
            if isinstance(child, ast.Assign):
                targets = list(child.targets)
            elif isinstance(child, ast.AugAssign | ast.AnnAssign):
                targets = [child.target]
            for target in targets:
                for part in ast.walk(target):
                    is_state = isinstance(part, ast.Attribute) and part.attr == "state"
                    if is_state and (not items_only or _names_an_item(part.value)):  # type: ignore[attr-defined]
                        found.append((child.lineno, where))
            visit(child, name)

    visit(tree, "")
    return found


def _names_an_item(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and ("item" in node.id or "callback" in node.id)


def test_only_move_and_the_constructor_assign_an_item_state() -> None:
    """SPEC §2: every change of an item's state goes through the one transition function."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        for line, where in _state_writes(tree, items_only=not rel.startswith("engine/")):
            allowed = rel == "engine/state.py" and where in ("move", "WorkItem.__init__")
            if not allowed:
                offenders.append(f"{rel}:{line} in {where or '<module>'}")
    assert offenders == [], offenders


def test_the_ast_check_sees_a_state_write() -> None:
    """The check above would see an offender (it is not vacuous)."""
    tree = ast.parse("def f(item):\n    item.state, x = 1, 2\n")
    assert _state_writes(tree) == [(2, "f")]
    assert _state_writes(tree, items_only=True) == [(2, "f")]
    assert _state_writes(ast.parse("app.state = 1\n"), items_only=True) == []


def _item(state: ItemState) -> WorkItem:
    item = WorkItem.__new__(WorkItem)
    item.id, item.state = "w1", state
    return item


@pytest.mark.parametrize("before", list(ItemState))
def test_move_allows_exactly_the_table(before: ItemState) -> None:
    """SPEC §2: every state change the table lists is made; every other one is an engine bug."""
    for after in ItemState:
        item = _item(before)
        if after in ITEM_TRANSITIONS[before]:
            move(item, after)
            assert item.state is after
        else:
            with pytest.raises(IllegalTransition, match=f"{before} -> {after}"):
                move(item, after)
            assert item.state is before
