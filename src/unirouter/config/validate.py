"""Cross-reference checks of a schema-valid configuration (R41).

Each ``check_*`` function looks at one concern and yields a :class:`ConfigIssue` per problem,
with the path of the offending field (``queues.billing_chat.overflow[0].action.transfer``) and
one sentence. :func:`check_config` runs them all, so every problem is reported at once.

The package exports the *function* ``unirouter.config.validate`` (schema and checks), which hides
this module's name as a package attribute; import it with
``importlib.import_module("unirouter.config.validate")`` if you need a single check.
The module is longer than the 400-line guideline because R41's list of checks reads best as one
list of small functions, in the order of the configuration's sections.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Iterator

from unirouter import calendars, expressions
from unirouter.config import channel_checks, model
from unirouter.errors import ConfigIssue, ExpressionError

__all__ = ["CHECKS", "check_config", "field_path"]

Loc = tuple[str | int, ...]
Check = Callable[[model.Config], Iterator[ConfigIssue]]

_PLAIN_KEY_FORBIDDEN = frozenset(".[]\"' ")


def field_path(loc: Iterable[str | int]) -> str:
    """``("queues", "q", "overflow", 0, "action")`` -> ``queues.q.overflow[0].action``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part and not _PLAIN_KEY_FORBIDDEN.intersection(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def check_config(config: model.Config) -> list[ConfigIssue]:
    """Every cross-reference issue of ``config``, in a stable order (R41)."""
    return [issue for check in CHECKS for issue in check(config)]


# --- building blocks ---------------------------------------------------------------------------


def _issue(loc: Loc, message: str) -> ConfigIssue:
    """An issue at ``loc``."""
    return ConfigIssue(path=field_path(loc), message=message)


def _unknown(name: str, known: Collection[str], what: str, loc: Loc) -> Iterator[ConfigIssue]:
    """An issue when ``name`` is not one of ``known``, suggesting the closest name."""
    if name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        hint = f"; did you mean {close[0]!r}?"
    elif known:
        hint = f"; known {what}s: {', '.join(sorted(known))}"
    else:
        hint = f"; no {what} is defined"
    yield _issue(loc, f"unknown {what} {name!r}{hint}")


def _queue_of_kind(
    config: model.Config, name: str, kind: model.Kind, loc: Loc, why: str
) -> Iterator[ConfigIssue]:
    """An issue when queue ``name`` is unknown or not of ``kind`` (R31, R41)."""
    queue = config.queues.get(name)
    if queue is None:
        yield from _unknown(name, config.queues, "queue", loc)
    elif queue.kind is not kind:
        yield _issue(
            loc, f"queue {name!r} is a {queue.kind.value} queue but {why} {kind.value} work"
        )


def _expression(source: str, loc: Loc) -> Iterator[ConfigIssue]:
    """An issue when ``source`` does not compile (SPEC §4); it names the column."""
    try:
        expressions.compile_expression(source)
    except ExpressionError as error:
        column = error.offset + 1
        yield _issue(loc, f"invalid expression {source!r}: {error.message} at column {column}")


def _skill_level(config: model.Config, name: str, level: int, loc: Loc) -> Iterator[ConfigIssue]:
    """An issue when ``level`` is outside 1..levels of skill ``name`` (if the skill is known)."""
    skill = config.skills.get(name)
    if skill is not None and not 1 <= level <= skill.levels:
        yield _issue(loc, f"level {level} of skill {name!r} is outside 1..{skill.levels}")


def _duplicates(
    names: Iterable[str | None], loc: Loc, what: str, field: str | None = None
) -> Iterator[ConfigIssue]:
    """An issue at each repeat of a name in the list at ``loc``; ``field`` names the key."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name is not None and name in seen:
            entry = (*loc, index, field) if field else (*loc, index)
            yield _issue(entry, f"{what} {name!r} is given twice")
        if name is not None:
            seen.add(name)


# --- walkers over the configuration's nested lists ---------------------------------------------


def _class_rules(config: model.Config) -> Iterator[tuple[Loc, model.ClassRule]]:
    """Every classification rule with its location."""
    for ws_name, ws in config.workstreams.items():
        for i, ruleset in enumerate(ws.classification):
            for j, rule in enumerate(ruleset.rules):
                yield ("workstreams", ws_name, "classification", i, "rules", j), rule


def _routes(config: model.Config) -> Iterator[tuple[Loc, str, model.Workstream, model.RouteRule]]:
    """Every route-to-queue rule with its location and workstream."""
    for ws_name, ws in config.workstreams.items():
        for i, route in enumerate(ws.route_to_queue):
            yield ("workstreams", ws_name, "route_to_queue", i), ws_name, ws, route


def _skill_reqs(config: model.Config) -> Iterator[tuple[Loc, model.SkillReq]]:
    """Every required skill: classification outputs and relaxation steps."""
    for loc, rule in _class_rules(config):
        for k, req in enumerate(rule.skills):
            yield (*loc, "skills", k), req
    for loc, _, _, route in _routes(config):
        for k, step in enumerate(route.steps):
            for m, req in enumerate(step.skills):
                yield (*loc, "steps", k, "skills", m), req


def _overflows(config: model.Config) -> Iterator[tuple[Loc, str, model.Queue, model.OverflowRule]]:
    """Every overflow rule with its location and queue."""
    for q_name, queue in config.queues.items():
        for i, rule in enumerate(queue.overflow):
            yield ("queues", q_name, "overflow", i), q_name, queue, rule


# --- configuration and calendars ---------------------------------------------------------------


def check_version(config: model.Config) -> Iterator[ConfigIssue]:
    """This release reads configuration version 1."""
    if config.version != 1:
        yield _issue(("version",), f"version {config.version} is not supported; use version 1")


def check_calendar_zones(config: model.Config) -> Iterator[ConfigIssue]:
    """R14: a calendar's ``tz`` is an IANA time zone."""
    for name, calendar in config.calendars.items():
        try:
            calendars.zone(calendar.tz)
        except ValueError as error:
            yield _issue(("calendars", name, "tz"), str(error))


def check_calendar_hours(config: model.Config) -> Iterator[ConfigIssue]:
    """R14: every weekly key names days, every value gives hours, no day twice."""
    for name, calendar in config.calendars.items():
        entry_issues = list(_weekly_entries(name, calendar.weekly))
        yield from entry_issues
        if not entry_issues:
            yield from _weekly_overlaps(name, calendar.weekly)


def _weekly_entries(name: str, weekly: dict[str, str]) -> Iterator[ConfigIssue]:
    """Issues of weekly entries that do not parse on their own."""
    for key, value in weekly.items():
        try:
            calendars.parse_days(key)
            calendars.parse_hours(value)
        except ValueError as error:
            yield _issue(("calendars", name, "weekly", key), str(error))


def _weekly_overlaps(name: str, weekly: dict[str, str]) -> Iterator[ConfigIssue]:
    """The issue of a day named by two keys."""
    try:
        calendars.parse_weekly(weekly)
    except calendars.WeeklyHoursError as error:
        yield _issue(("calendars", name, "weekly", error.key), str(error))


# --- workstreams -------------------------------------------------------------------------------


def check_fallback_queues(config: model.Config) -> Iterator[ConfigIssue]:
    """R5, R41: the fallback queue exists and has the workstream's kind."""
    for name, ws in config.workstreams.items():
        why = f"workstream {name!r} falls back with"
        yield from _queue_of_kind(
            config, ws.fallback_queue, ws.kind, ("workstreams", name, "fallback_queue"), why
        )


def check_workstream_profiles(config: model.Config) -> Iterator[ConfigIssue]:
    """R16: a workstream's capacity profiles are defined."""
    for name, ws in config.workstreams.items():
        for i, profile in enumerate(ws.capacity.profiles):
            loc = ("workstreams", name, "capacity", "profiles", i)
            yield from _unknown(profile, config.capacity_profiles, "capacity profile", loc)


def check_rejectable(config: model.Config) -> Iterator[ConfigIssue]:
    """R27: only record workstreams may make offers that cannot be declined."""
    for name, ws in config.workstreams.items():
        if not ws.offer.rejectable and ws.kind is not model.Kind.RECORD:
            loc = ("workstreams", name, "offer", "rejectable")
            yield _issue(
                loc, f"only record workstreams may set rejectable: false, not {ws.kind.value}"
            )


def check_ruleset_names(config: model.Config) -> Iterator[ConfigIssue]:
    """R41: classification ruleset names are unique within a workstream."""
    for name, ws in config.workstreams.items():
        names = [ruleset.name for ruleset in ws.classification]
        yield from _duplicates(names, ("workstreams", name, "classification"), "ruleset", "name")


def check_classification_expressions(config: model.Config) -> Iterator[ConfigIssue]:
    """R2, R41: every classification condition compiles."""
    for loc, rule in _class_rules(config):
        yield from _expression(rule.when, (*loc, "when"))


def check_classification_priority(config: model.Config) -> Iterator[ConfigIssue]:
    """SPEC §2: ``set: {priority: N}`` sets an integer from 0 to 100000."""
    for loc, rule in _class_rules(config):
        if "priority" in rule.set and not _is_priority(rule.set["priority"]):
            message = (
                f"must be an integer from 0 to {model.MAX_PRIORITY}, not {rule.set['priority']!r}"
            )
            yield _issue((*loc, "set", "priority"), message)


def _is_priority(value: object) -> bool:
    """An integer (not a boolean) within SPEC §2's priority range."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return 0 <= value <= model.MAX_PRIORITY


def check_classification_profiles(config: model.Config) -> Iterator[ConfigIssue]:
    """R2, R41: profiles added by classification are defined."""
    for loc, rule in _class_rules(config):
        for k, profile in enumerate(rule.profiles):
            yield from _unknown(
                profile, config.capacity_profiles, "capacity profile", (*loc, "profiles", k)
            )


def check_required_skills(config: model.Config) -> Iterator[ConfigIssue]:
    """R16, R20, R41: required skills are defined and their levels fit the skill."""
    for loc, req in _skill_reqs(config):
        yield from _unknown(req.name, config.skills, "skill", (*loc, "name"))
        yield from _skill_level(config, req.name, req.level, (*loc, "level"))


def check_route_expressions(config: model.Config) -> Iterator[ConfigIssue]:
    """R3, R41: every route-to-queue condition compiles."""
    for loc, _, _, route in _routes(config):
        yield from _expression(route.when, (*loc, "when"))


def check_route_queues(config: model.Config) -> Iterator[ConfigIssue]:
    """R3, R41: a route's queue exists and has the workstream's kind."""
    for loc, name, ws, route in _routes(config):
        if route.queue is not None:
            why = f"workstream {name!r} routes"
            yield from _queue_of_kind(config, route.queue, ws.kind, (*loc, "queue"), why)


def check_split_shares(config: model.Config) -> Iterator[ConfigIssue]:
    """R4: a split has 2 to 5 queues whose percentages sum to 100."""
    for loc, _, _, route in _routes(config):
        split = route.split or {}
        if route.split is not None and not 2 <= len(split) <= 5:
            yield _issue((*loc, "split"), f"a split names 2 to 5 queues, not {len(split)}")
        elif route.split is not None and sum(split.values()) != 100:
            yield _issue(
                (*loc, "split"), f"split percentages sum to {sum(split.values())}, not 100"
            )


def check_split_queues(config: model.Config) -> Iterator[ConfigIssue]:
    """R4, R41: every queue of a split exists and has the workstream's kind."""
    for loc, name, ws, route in _routes(config):
        for queue in route.split or {}:
            why = f"workstream {name!r} splits"
            yield from _queue_of_kind(config, queue, ws.kind, (*loc, "split", queue), why)


def check_step_order(config: model.Config) -> Iterator[ConfigIssue]:
    """R20: relaxation steps start at 0 s and their ``after_s`` increase."""
    for loc, _, _, route in _routes(config):
        previous = -1.0
        for k, step in enumerate(route.steps):
            if k == 0 and step.after_s != 0:
                yield _issue(
                    (*loc, "steps", 0, "after_s"), "the first relaxation step must start at 0"
                )
            elif k > 0 and step.after_s <= previous:
                yield _issue(
                    (*loc, "steps", k, "after_s"),
                    f"must be greater than the previous step's {previous:g}",
                )
            previous = step.after_s


# --- queues ------------------------------------------------------------------------------------


def check_queue_members(config: model.Config) -> Iterator[ConfigIssue]:
    """R16, R41: queue members are defined agents, each listed once."""
    for name, queue in config.queues.items():
        loc = ("queues", name, "members")
        for i, agent in enumerate(queue.members):
            yield from _unknown(agent, config.agents, "agent", (*loc, i))
        yield from _duplicates(queue.members, loc, "member")


def check_operating_hours(config: model.Config) -> Iterator[ConfigIssue]:
    """R14: a queue's ``operating_hours`` names a calendar."""
    for name, queue in config.queues.items():
        if queue.operating_hours is not None:
            loc = ("queues", name, "operating_hours")
            yield from _unknown(queue.operating_hours, config.calendars, "calendar", loc)


def check_assignment_expressions(config: model.Config) -> Iterator[ConfigIssue]:
    """R19: custom rule conditions compile, and so does ``order_by`` unless it names a method."""
    for name, queue in config.queues.items():
        for i, rule in enumerate(queue.assignment.rules):
            loc = ("queues", name, "assignment", "rules", i)
            yield from _expression(rule.when, (*loc, "when"))
            if rule.order_method is None:
                yield from _expression(rule.order_by, (*loc, "order_by"))


def check_prioritization_expressions(config: model.Config) -> Iterator[ConfigIssue]:
    """R7: prioritisation conditions and ordering keys compile."""
    for name, queue in config.queues.items():
        for i, rule in enumerate(queue.prioritization):
            loc = ("queues", name, "prioritization", i)
            yield from _expression(rule.when, (*loc, "when"))
            for k, key in enumerate(rule.order_by):
                yield from _expression(key.by, (*loc, "order_by", k, "by"))


def check_prioritization_names(config: model.Config) -> Iterator[ConfigIssue]:
    """R41: named prioritisation rules are unique within a queue."""
    for name, queue in config.queues.items():
        names = [rule.name for rule in queue.prioritization]
        yield from _duplicates(names, ("queues", name, "prioritization"), "rule", "name")


def check_overflow_transfers(config: model.Config) -> Iterator[ConfigIssue]:
    """R12, R31: an overflow transfer goes to another queue of the same kind."""
    for loc, name, queue, rule in _overflows(config):
        kind, target = rule.action_kind
        if kind is model.ActionKind.TRANSFER and target is not None:
            target_loc = (*loc, "action", "transfer")
            if target == name:
                yield _issue(target_loc, f"queue {name!r} cannot overflow to itself")
            why = f"queue {name!r} holds"
            yield from _queue_of_kind(config, target, queue.kind, target_loc, why)


def check_overflow_callbacks(config: model.Config) -> Iterator[ConfigIssue]:
    """R12, R38: a callback is a record item, created in a record queue."""
    for loc, _, _, rule in _overflows(config):
        kind, target = rule.action_kind
        if kind is model.ActionKind.CALLBACK and target is not None:
            why = "a callback is"
            yield from _queue_of_kind(
                config, target, model.Kind.RECORD, (*loc, "action", "callback"), why
            )


def check_overflow_cycles(config: model.Config) -> Iterator[ConfigIssue]:
    """R13, R41: post-queue (``waited_s``) transfers and callbacks never lead back to a queue.

    R13 applies ``waited_s`` again in the queue an item moves to, so a cycle of such moves would
    circulate an item nobody takes for ever (and a callback cycle would make new items for ever).
    Each cycle is reported once, at its first move, with every move written as its field path.
    """
    moves = _post_queue_moves(config)
    covered: set[str] = set()
    for start in moves:
        if start in covered:
            continue
        cycle = _cycle_from(start, moves)
        if cycle is None:
            continue
        covered.update(queue for queue, _ in cycle)
        path = ", then ".join(f"{field_path(loc)} ({queue!r} → {target!r})"
                              for (queue, loc), (target, _) in zip(cycle, [*cycle[1:], cycle[0]],
                                                                   strict=True))  # fmt: skip
        yield _issue(
            cycle[0][1],
            f"post-queue overflow moves form a cycle: {path}; an item nobody takes would "
            "circulate for ever (R13): end the chain in a queue without a waited_s move",
        )


def _post_queue_moves(config: model.Config) -> dict[str, list[tuple[str, Loc]]]:
    """Queue -> every (target, location of the target field) of its ``waited_s`` moves."""
    moves: dict[str, list[tuple[str, Loc]]] = {}
    for loc, name, _, rule in _overflows(config):
        kind, target = rule.action_kind
        transfer_to_self = kind is model.ActionKind.TRANSFER and target == name  # reported apart
        moving = kind in (model.ActionKind.TRANSFER, model.ActionKind.CALLBACK)
        if rule.post_queue and moving and target in config.queues and not transfer_to_self:
            moves.setdefault(name, []).append((target, (*loc, "action", kind.value)))
    return moves


def _cycle_from(
    start: str, moves: dict[str, list[tuple[str, Loc]]]
) -> list[tuple[str, Loc]] | None:
    """A cycle back to ``start`` (depth first, in listed order) as its (queue, move) pairs."""
    nodes, seen = [start], {start}
    path: list[tuple[str, Loc]] = []
    pending = [iter(moves.get(start, []))]
    while pending:
        step = next(pending[-1], None)
        if step is None:  # every move out of this queue explored: step back
            pending.pop()
            nodes.pop()
            del path[len(nodes) - 1 :]
            continue
        target, loc = step
        if target == start:
            return [*path, (nodes[-1], loc)]
        if target not in seen:
            seen.add(target)
            path.append((nodes[-1], loc))
            nodes.append(target)
            pending.append(iter(moves.get(target, [])))
    return None


# --- agents and tokens -------------------------------------------------------------------------


def check_agent_skills(config: model.Config) -> Iterator[ConfigIssue]:
    """R16, R41: an agent's skills are defined and their levels fit the skill."""
    for name, agent in config.agents.items():
        for skill, level in agent.skills.items():
            loc = ("agents", name, "skills", skill)
            yield from _unknown(skill, config.skills, "skill", loc)
            yield from _skill_level(config, skill, level, loc)


def check_agent_profiles(config: model.Config) -> Iterator[ConfigIssue]:
    """R16, R41: an agent's capacity profiles are defined."""
    for name, agent in config.agents.items():
        for profile in agent.profiles:
            loc = ("agents", name, "profiles", profile)
            yield from _unknown(profile, config.capacity_profiles, "capacity profile", loc)


def check_agent_calendars(config: model.Config) -> Iterator[ConfigIssue]:
    """R36: an agent's calendar is defined."""
    for name, agent in config.agents.items():
        if agent.calendar is not None:
            loc = ("agents", name, "calendar")
            yield from _unknown(agent.calendar, config.calendars, "calendar", loc)


def check_agent_presence(config: model.Config) -> Iterator[ConfigIssue]:
    """SPEC §2: ``inactive`` is set by the system only, never a default presence."""
    for name, agent in config.agents.items():
        if agent.default_presence is model.BasePresence.INACTIVE:
            loc = ("agents", name, "default_presence")
            yield _issue(loc, "inactive is set by the system only; use offline or away")


def check_token_agents(config: model.Config) -> Iterator[ConfigIssue]:
    """SPEC §6.3: an agent token is bound to a defined agent."""
    for i, token in enumerate(config.auth.tokens):
        if token.agent is not None:
            yield from _unknown(token.agent, config.agents, "agent", ("auth", "tokens", i, "agent"))


def check_token_names(config: model.Config) -> Iterator[ConfigIssue]:
    """R41: token names are unique."""
    names = [token.name for token in config.auth.tokens]
    yield from _duplicates(names, ("auth", "tokens"), "token", "name")


def check_channels(config: model.Config) -> Iterator[ConfigIssue]:
    """Issue 9: the channels and webhooks sections (their own module of checks)."""
    for check in channel_checks.CHECKS:
        yield from check(config, _issue)


#: Every check, in the order their issues are reported.
CHECKS: tuple[Check, ...] = (
    check_version,
    check_calendar_zones,
    check_calendar_hours,
    check_fallback_queues,
    check_workstream_profiles,
    check_rejectable,
    check_ruleset_names,
    check_classification_expressions,
    check_classification_priority,
    check_classification_profiles,
    check_required_skills,
    check_route_expressions,
    check_route_queues,
    check_split_shares,
    check_split_queues,
    check_step_order,
    check_queue_members,
    check_operating_hours,
    check_assignment_expressions,
    check_prioritization_expressions,
    check_prioritization_names,
    check_overflow_transfers,
    check_overflow_callbacks,
    check_overflow_cycles,
    check_agent_skills,
    check_agent_profiles,
    check_agent_calendars,
    check_agent_presence,
    check_token_agents,
    check_token_names,
    check_channels,
)
