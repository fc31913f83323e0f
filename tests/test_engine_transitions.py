"""The item lifecycle has one writer (SPEC §2): :func:`unirouter.engine.state.move`.

No other code in the engine assigns ``.state`` on anything except the ``WorkItem`` constructor, no
code elsewhere assigns ``.state`` on a name that says item (other packages have their own ``state``
attributes: ``app.state``, followers), and ``move`` refuses a change the documented table does not allow.
``move`` is also the only writer of the queue counters derived from an item's state (``waiting``,
``offered``, and the item's ``counted_in``); the agent-side counters have the writers
docs/architecture.md lists ("The item lifecycle"), and no others.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from unirouter.config import model
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import (
    ITEM_TRANSITIONS,
    WAITING_STATES,
    IllegalTransition,
    ItemState,
    WorkItem,
    move,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "unirouter"


def _state_writes(tree: ast.AST, *, items_only: bool = False) -> list[tuple[int, str]]:
    """(line, enclosing function) of every assignment whose target is an attribute named state
    (``items_only``: on a plain name containing ``item`` or ``callback``)."""
    return [
        (line, where)
        for line, where, _ in _attribute_writes(tree, {"state"}, items_only=items_only)
    ]


def _attribute_writes(
    tree: ast.AST, names: set[str], *, items_only: bool = False
) -> list[tuple[int, str, str]]:
    """(line, enclosing function, attribute) of every assignment whose target is an attribute
    named in ``names`` (``items_only``: on a plain name containing ``item`` or ``callback``)."""
    found: list[tuple[int, str, str]] = []

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
                    hit = isinstance(part, ast.Attribute) and part.attr in names
                    if hit and (not items_only or _names_an_item(part.value)):  # type: ignore[attr-defined]
                        found.append((child.lineno, where, part.attr))  # type: ignore[attr-defined]
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


#: Who writes each counter of the engine (module:function), as docs/architecture.md lists them.
#: ``waiting``, ``offered`` and ``counted_in`` follow an item's state: ``move`` alone (and the
#: constructors). The others follow an agent's presence and room, not an item's state.
COUNTER_WRITERS = {
    "waiting": {"queues.py:QueueRuntime.__init__", "state.py:move"},
    "offered": {"queues.py:QueueRuntime.__init__", "state.py:move"},
    "counted_in": {"state.py:WorkItem.__init__", "state.py:move"},
    "present": {
        "queues.py:QueueRuntime.__init__",
        "presence.py:apply_presence",
        "install.py:install_agents",
        "queueing.py:admit",
    },
    "ready": {
        "queues.py:QueueRuntime.__init__",
        "state.py:AgentState.__init__",
        "presence.py:refresh",
        "install.py:configure_agent",
        "install.py:retire_agent",
    },
    "staffed": {
        "queues.py:QueueRuntime.__init__",
        "state.py:AgentState.__init__",
        "presence.py:restaff",
        "install.py:configure_agent",
        "install.py:retire_agent",
    },
    "slots": {"queues.py:QueueRuntime.__init__", "presence.py:restaff"},
    "live": {
        "queues.py:LazyHeap.__init__",
        "queues.py:Pool.live",
        "queues.py:QueueRuntime._attach",
        "presence.py:refresh",
        "queueing.py:index_item",
        "queueing.py:unindex_item",
    },
}


def test_the_counters_have_exactly_their_documented_writers() -> None:
    """SPEC §2, R12, R43: ``move`` is the only code that adjusts a queue's ``waiting`` and
    ``offered``; each agent-side count (present, ready, staffed, slots, pool and group live) is
    written only where docs/architecture.md says."""
    found: dict[str, set[str]] = {name: set() for name in COUNTER_WRITERS}
    for path in sorted((SRC / "engine").glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for _, where, attr in _attribute_writes(tree, set(COUNTER_WRITERS)):
            found[attr].add(f"{path.name}:{where or '<module>'}")
    assert found == COUNTER_WRITERS


def test_the_ast_check_sees_a_state_write() -> None:
    """The check above would see an offender (it is not vacuous)."""
    tree = ast.parse("def f(item):\n    item.state, x = 1, 2\n")
    assert _state_writes(tree) == [(2, "f")]
    assert _state_writes(tree, items_only=True) == [(2, "f")]
    assert _state_writes(ast.parse("app.state = 1\n"), items_only=True) == []
    tree = ast.parse("class A:\n    def g(self, q):\n        q.waiting -= 1\n")
    assert _attribute_writes(tree, {"waiting"}) == [(3, "A.g", "waiting")]


def _queue(name: str = "q") -> QueueRuntime:
    return QueueRuntime(name, model.Queue(kind=model.Kind.MESSAGING), None)


def _item(state: ItemState, queue: QueueRuntime) -> WorkItem:
    """An item in ``state``, counted in ``queue`` as that state says (through ``move``)."""
    item = WorkItem(id="w1", external_id="e1", workstream="chat", kind=model.Kind.MESSAGING)
    if state in WAITING_STATES:
        move(item, ItemState.QUEUED, queue)
        if state is ItemState.OFFERED:
            move(item, ItemState.OFFERED)
    elif state is not ItemState.ROUTING:
        item.state = state  # a bare start state; no queue counts it
    return item


@pytest.mark.parametrize("before", list(ItemState))
def test_move_allows_exactly_the_table(before: ItemState) -> None:
    """SPEC §2: every state change the table lists is made; every other one is an engine bug."""
    for after in ItemState:
        item = _item(before, _queue())
        if after in ITEM_TRANSITIONS[before]:
            move(item, after, _queue("other"))
            assert item.state is after
        else:
            with pytest.raises(IllegalTransition, match=f"{before} -> {after}"):
                move(item, after, _queue("other"))
            assert item.state is before


def _counts(queue: QueueRuntime) -> tuple[int, int]:
    return queue.waiting, queue.offered


@pytest.mark.parametrize("before", list(ItemState))
def test_move_keeps_waiting_and_offered_in_step_with_the_state(before: ItemState) -> None:
    """SPEC §2, §8, R12: after any allowed move the item is counted in ``waiting`` (queued or
    offered) and ``offered`` (offered) of exactly one queue: the one named, else the one it was
    counted in; a refused move changes no count."""
    for after in ItemState:
        home, other = _queue("home"), _queue("other")
        item = _item(before, home)
        waits = after in WAITING_STATES
        if after not in ITEM_TRANSITIONS[before]:
            counts = _counts(home)
            with pytest.raises(IllegalTransition):
                move(item, after, other)
            assert (_counts(home), _counts(other)) == (counts, (0, 0))
            continue
        move(item, after, other)
        expected = (int(waits), int(after is ItemState.OFFERED))
        assert (_counts(home), _counts(other)) == ((0, 0), expected)
        assert item.counted_in is (other if waits else None)
        if waits:  # the named queue becomes the item's; leaving, it keeps its last queue's name
            assert item.queue == "other"
        if before in WAITING_STATES and after in WAITING_STATES:  # no queue named: stays home
            again = _item(before, home)
            move(again, after)
            assert _counts(home) == expected


def test_entering_a_queue_without_one_is_an_engine_bug() -> None:
    """An item queued from nowhere, with no queue named, would be counted nowhere: refused."""
    item = WorkItem(id="w1", external_id="e1", workstream="chat", kind=model.Kind.MESSAGING)
    with pytest.raises(IllegalTransition, match="names no queue"):
        move(item, ItemState.QUEUED)
    assert item.state is ItemState.ROUTING
