"""A configuration compiled for routing: expressions compiled once per version (SPEC §4, R42).

The engine never reads expression strings on the hot path: each configuration version becomes a set of
plans holding compiled :class:`~unirouter.expressions.Expression` objects and the split counters (R4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from unirouter import calendars, expressions
from unirouter.config import model

__all__ = [
    "ClassRulePlan",
    "Compiled",
    "CustomRulePlan",
    "PriorityPlan",
    "RoutePlan",
    "Split",
    "WorkstreamPlan",
    "carry_splits",
    "compile_config",
    "order_value",
    "relaxed",
]

compile_expression = expressions.compile_expression


class Split:
    """A percentage split over up to five queues, exact over time (R4).

    Balinski and Young's quota method: among the queues still below their upper quota
    ``ceil((n + 1) × share)``, the next item goes to the one with the largest ``share ÷ (count + 1)``
    (ties in the listed order). It keeps every queue within its quota, so within one item of
    ``n × share`` after any ``n`` items; plain smooth weighted round robin does not for some five-way
    splits. Integer arithmetic only: percentages are whole numbers summing to 100.
    """

    __slots__ = ("counts", "total", "weights")

    def __init__(self, weights: dict[str, int]) -> None:
        self.weights = dict(weights)
        self.counts = dict.fromkeys(weights, 0)
        self.total = 0

    def peek(self) -> str:
        """The queue the next item goes to."""
        best, best_weight, best_count = "", 0, 0
        n1 = self.total + 1
        for name, weight in self.weights.items():
            count = self.counts[name]
            if 100 * count >= n1 * weight:
                continue  # would pass its upper quota
            # weight / (count + 1) > best_weight / (best_count + 1), without division
            if not best or weight * (best_count + 1) > best_weight * (count + 1):
                best, best_weight, best_count = name, weight, count
        return best

    def commit(self, chosen: str) -> None:
        """Record that ``chosen`` received an item."""
        self.counts[chosen] += 1
        self.total += 1


@dataclass(slots=True)
class ClassRulePlan:
    when: expressions.Expression
    rule: model.ClassRule


@dataclass(slots=True)
class RoutePlan:
    when: expressions.Expression
    queue: str | None
    split: Split | None
    steps: tuple[model.RelaxStep, ...]

    def target(self) -> str:
        if self.split is not None:
            return self.split.peek()
        assert self.queue is not None
        return self.queue


@dataclass(slots=True)
class WorkstreamPlan:
    name: str
    cfg: model.Workstream
    rulesets: list[tuple[str, list[ClassRulePlan]]] = field(default_factory=list)
    routes: list[RoutePlan] = field(default_factory=list)
    allowed: frozenset[model.BasePresence] = frozenset()

    @staticmethod
    def build(name: str, cfg: model.Workstream) -> WorkstreamPlan:
        plan = WorkstreamPlan(name, cfg, allowed=frozenset(cfg.allowed_presences))
        for ruleset in cfg.classification:
            rules = [ClassRulePlan(compile_expression(r.when), r) for r in ruleset.rules]
            plan.rulesets.append((ruleset.name, rules))
        for route in cfg.route_to_queue:
            split = Split(dict(route.split)) if route.split else None
            steps = tuple(route.steps)
            plan.routes.append(RoutePlan(compile_expression(route.when), route.queue, split, steps))
        return plan


@dataclass(slots=True)
class PriorityPlan:
    """One prioritisation rule (R7): a condition and its ordering keys."""

    when: expressions.Expression
    keys: tuple[tuple[expressions.Expression, bool], ...]

    @property
    def timed(self) -> bool:
        """Whether a comparison in the condition or the keys reads the time (R7 retime timer)."""
        return bool(self.when.probes) or any(expr.probes for expr, _ in self.keys)


@dataclass(slots=True)
class CustomRulePlan:
    """One custom assignment rule (R19)."""

    when: expressions.Expression
    order_by: expressions.Expression | None
    method: model.Method | None
    desc: bool
    ignore_skills: bool


def priority_plans(cfg: model.Queue) -> list[PriorityPlan]:
    plans = []
    for rule in cfg.prioritization:
        keys = tuple((compile_expression(k.by), k.desc) for k in rule.order_by)
        plans.append(PriorityPlan(compile_expression(rule.when), keys))
    return plans


def custom_plans(cfg: model.Queue) -> list[CustomRulePlan]:
    methods = {m.value: m for m in model.Method if m is not model.Method.CUSTOM}
    plans = []
    for rule in cfg.assignment.rules:
        method = methods.get(str(rule.order_by).strip())
        order_by = None if method is not None else compile_expression(rule.order_by)
        ignore = "skills" in rule.ignore
        plans.append(
            CustomRulePlan(compile_expression(rule.when), order_by, method, rule.desc, ignore)
        )
    return plans


@dataclass(frozen=True, slots=True, kw_only=True)
class Compiled:
    """What an engine makes of a configuration alone (R42). Snapshots leave it out and a restore
    makes it again from the same configuration (:mod:`unirouter.engine.snapshot`); only the split
    counters in ``workstreams`` change as items route, and snapshots carry those apart."""

    calendars: dict[str, calendars.Calendar]
    workstreams: dict[str, WorkstreamPlan]
    priority: dict[str, list[PriorityPlan]]
    custom: dict[str, list[CustomRulePlan]]


def compile_config(config: model.Config) -> Compiled:
    """Calendars, workstream plans, prioritisation and custom assignment rules of ``config``."""
    return Compiled(
        calendars={n: calendars.Calendar.from_def(c) for n, c in config.calendars.items()},
        workstreams={n: WorkstreamPlan.build(n, w) for n, w in config.workstreams.items()},
        priority={n: priority_plans(q) for n, q in config.queues.items()},
        custom={n: custom_plans(q) for n, q in config.queues.items()},
    )


def relaxed(
    base: tuple[model.SkillReq, ...], step: list[model.SkillReq] | tuple[model.SkillReq, ...]
) -> tuple[model.SkillReq, ...]:
    """R20: the skills an item needs at a relaxation step.

    A step states the route's own requirements at that point; the item's own and classification's
    requirements (``base``) stay, except a skill the step names, which takes the step's level and
    optional flag. So steps relax classification's requirements, they never drop them unasked.
    """
    named = {req.name for req in step}
    return (*(req for req in base if req.name not in named), *step)


def carry_splits(old: dict[str, WorkstreamPlan], new: dict[str, WorkstreamPlan]) -> None:
    """R4, R42: a split a new configuration leaves unchanged (same workstream, condition and
    shares) continues its exact sequence instead of starting again from zero."""
    for name, plan in new.items():
        before = old.get(name)
        if before is None:
            continue
        spare = {_split_key(r): r.split for r in reversed(before.routes) if r.split is not None}
        for route in plan.routes:
            kept = spare.pop(_split_key(route), None) if route.split is not None else None
            if kept is not None and route.split is not None:
                route.split.counts, route.split.total = dict(kept.counts), kept.total


def _split_key(route: RoutePlan) -> tuple[str, tuple[tuple[str, int], ...]]:
    weights = () if route.split is None else tuple(sorted(route.split.weights.items()))
    return (route.when.source, weights)


class _Desc:
    """Reverses the order of a non-numeric value in a sort key."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash(self.value)


def order_value(value: object, desc: bool) -> tuple[int, Any]:
    """A total-order key for any expression value: numbers, then strings, then others; null last.
    A non-finite number sorts as null: NaN compares false with everything and would break the
    queue's order (issue 17 item 3)."""
    if value is None or (type(value) is float and not math.isfinite(value)):
        return (3, 0)
    if isinstance(value, bool | int | float):
        return (0, -value if desc else value)
    text = value if isinstance(value, str) else repr(value)
    return (1 if isinstance(value, str) else 2, _Desc(text) if desc else text)
