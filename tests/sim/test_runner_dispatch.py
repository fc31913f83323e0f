"""The scenario runner's event dispatch and its garbage-collector setting (``unirouter bench sim``).

The runner dispatches each engine event once, by type, to its own books, to the KPI accumulator's
handler and to the listeners; a run raises the cyclic collector's threshold and restores it. None
of it may change what a run computes: these tests hold the dispatch to what feeding every event
through :meth:`KpiAccumulator.feed` gives, over many seeds.
"""

from __future__ import annotations

import copy
import gc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirouter.analytics import kpis
from unirouter.engine import Event, EventType
from unirouter.sim import results, runner, scenario

MIXED = Path(__file__).parent / "golden" / "mixed.yaml"


@pytest.fixture(scope="module")
def mixed() -> scenario.Scenario:
    return scenario.load(MIXED)


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """A threshold of the test's own, put back afterwards whatever happens."""
    old = gc.get_threshold()
    gc.set_threshold(123, 7, 9)
    yield gc.get_threshold()
    gc.set_threshold(*old)


def recorded(plan: scenario.Scenario, seed: int) -> tuple[results.RunResult, list[Event]]:
    events: list[Event] = []
    return runner.run(plan, seed=seed, listeners=[events.append]), events


def test_a_run_restores_the_garbage_collector_threshold(
    mixed: scenario.Scenario, thresholds: tuple[int, int, int]
) -> None:
    """During a run the youngest generation's threshold is raised; after it, it is as it was."""
    seen: list[int] = []
    runner.run(mixed, listeners=[lambda event: seen.append(gc.get_threshold()[0])])
    assert seen and set(seen) == {runner.GC_THRESHOLD}
    assert gc.get_threshold() == thresholds


def test_a_failing_run_restores_the_garbage_collector_threshold(
    mixed: scenario.Scenario, thresholds: tuple[int, int, int]
) -> None:
    """A listener that raises ends the run, and the threshold is still put back."""

    def fail(event: Event) -> None:
        raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError, match="listener failed"):
        runner.run(mixed, listeners=[fail])
    assert gc.get_threshold() == thresholds


def test_counts_are_the_events_of_each_type(mixed: scenario.Scenario) -> None:
    """``counts`` holds every event type the run emitted, by name, and no other."""
    result, events = recorded(mixed, 5)
    assert result.counts == dict(sorted(Counter(e.type.value for e in events).items()))


def test_listeners_see_every_event_once_in_order(mixed: scenario.Scenario) -> None:
    """Listeners get each event once, in ``seq`` order, whatever its type."""
    _, events = recorded(mixed, 5)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_kpi_handlers_are_a_copy(mixed: scenario.Scenario) -> None:
    """:meth:`KpiAccumulator.handlers` gives a copy: changing it leaves what :meth:`feed` calls."""
    accumulator = kpis.KpiAccumulator(mixed.config)
    handlers = dict(accumulator.handlers())
    assert EventType.ITEM_CREATED in handlers and EventType.ITEM_CLASSIFIED not in handlers
    table = accumulator.handlers()
    assert isinstance(table, dict)
    table.clear()
    assert accumulator.handlers() == handlers


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31))
def test_the_runs_kpis_are_those_of_feeding_every_event(seed: int) -> None:
    """For any seed, the KPIs the runner's dispatch table gives equal an accumulator fed every
    event through :meth:`KpiAccumulator.feed`, in order."""
    plan = scenario.load(MIXED)
    result, events = recorded(plan, seed)
    fed = kpis.KpiAccumulator(plan.config, warmup_s=plan.warmup, end_s=plan.duration)
    fed.feed_all(events)
    expected = fed.finish(result.end_s).to_dict()
    assert copy.deepcopy(result.kpis[0].to_dict()) == expected
