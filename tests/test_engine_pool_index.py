"""The requirement indexes behind item-side decisions (R16–R18, R43; issue 10 item 4).

A queue answers "which agent for this item" from a per-requirement heap of its ready members, kept
current by the per-signature pools. These properties hold that index to a brute-force scan over
every ready member of the queue, computed from the agents' state just before each decision: the same
winner, the same top five candidates in the same order, and the same exclusion counts for skills and
profiles, with agents of random skills, levels, capacities and profiles, random requirements, and
every built-in method under each skill match (exact, closest, none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter.config import model
from unirouter.engine import matching
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.state import ItemState

SKILLS = ("k0", "k1", "k2", "k3")
MATCHES = ("exact", "closest", "none")
METHODS = ("highest_capacity", "round_robin", "least_active", "most_skilled")
P = model.BasePresence


def centre(
    agents: list[dict[str, Any]], methods: list[str], memberships: list[list[int]]
) -> model.Config:
    """One push workstream per skill match, each feeding its own queue; auto-accept."""
    names = [f"a{n}" for n in range(len(agents))]
    return model.Config.model_validate(
        {
            "skills": {name: {"levels": 10} for name in SKILLS},
            "capacity_profiles": {"p0": {"limit": 2}, "p1": {"limit": 1}},
            "workstreams": {
                f"w_{match}": {
                    "kind": "messaging",
                    "skill_match": match,
                    "capacity": {"units": 40},
                    "offer": {"auto_accept": True},
                    "wrap_up": {"block": "none"},
                    "fallback_queue": f"q_{match}",
                }
                for match in MATCHES
            },
            "queues": {
                f"q_{match}": {
                    "kind": "messaging",
                    "assignment": {"method": method},
                    "members": [names[n] for n in members],
                }
                for match, method, members in zip(MATCHES, methods, memberships, strict=True)
            },
            "agents": dict(zip(names, agents, strict=True)),
        }
    )


agent_defs = st.fixed_dictionaries(
    {
        "skills": st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 6), max_size=3),
        "capacity_units": st.sampled_from([40, 80, 100, 120]),
        "profiles": st.lists(st.sampled_from(["p0", "p1"]), unique=True, max_size=2),
        "default_presence": st.sampled_from(["available", "available", "away"]),
    }
)
requirements = st.fixed_dictionaries(
    {
        "skills": st.lists(
            st.tuples(st.sampled_from(SKILLS), st.integers(1, 6), st.booleans()),
            unique_by=lambda s: s[0],
            max_size=2,
        ),
        # Never below the workstream's 40: a smaller item widens the queue's pool admission as it
        # arrives (R16, R31), after the state the scan reads.
        "units": st.sampled_from([None, 40, 80, 120]),
        "profiles": st.lists(st.sampled_from(["p0", "p1"]), unique=True, max_size=1),
    }
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.sampled_from(MATCHES), requirements),
        st.tuples(st.just("complete"), st.integers(0, 10_000)),
        st.tuples(
            st.just("presence"), st.integers(0, 10_000), st.sampled_from(["available", "away"])
        ),
    ),
    min_size=1,
    max_size=100,
)


@dataclass(frozen=True)
class Expected:
    """What a scan over every ready member says the decision must be."""

    winner: str | None
    top: list[str]
    skill: int
    short: set[str]
    profile: int


def brute_force(engine: Engine, match: str, req: dict[str, Any]) -> Expected:
    """Every ready member of the queue, ranked by (rank, method key); the best that may take it."""
    queue = engine._core.queues[f"q_{match}"]
    ws = engine._core.workstreams[f"w_{match}"].cfg
    units = 40 if req["units"] is None else req["units"]
    skills = [model.SkillReq(name=n, level=lv, optional=o) for n, lv, o in req["skills"]]
    requirement = matching.Requirement.of(skills, units, req["profiles"])
    dispatch = engine._core.dispatch
    ranked: list[tuple[tuple[Any, ...], str, str | None]] = []
    short: set[str] = set()
    profile = 0
    allowed = engine._core.workstreams[ws_name(match)].allowed
    for agent_id in queue.members:
        agent = engine._core.agents[agent_id]
        if queue.name not in agent.ready:
            continue
        rank = matching.rank(requirement, agent.signature, ws.skill_match, queue.method)
        if rank is None:
            if matching.exclusion(requirement, agent.signature, ws.skill_match) == "profile":
                profile += 1
            else:
                short.add(agent_id)
            continue
        refusal = (
            "presence"
            if agent.presence not in allowed
            else dispatch.room_for(agent, units, requirement.profiles)
        )
        ranked.append(((*rank, *dispatch.method_key(agent, queue)), agent_id, refusal))
    ranked.sort()
    fitting = [agent_id for _, agent_id, refusal in ranked if refusal is None]
    # R43 names the qualifying members the decision passed over, ranked ahead of the winner.
    for _, _agent, refusal in ranked:
        if refusal is None:
            break
        profile += refusal == "profile"
    return Expected(
        winner=fitting[0] if fitting else None,
        top=fitting[:5],
        skill=len(short),
        short=short,
        profile=profile,
    )


def ws_name(match: str) -> str:
    return f"w_{match}"


def check_decision(item: Any, expected: Expected) -> None:
    entries = [e for e in item.trace if e["stage"] == "assign" and e.get("trigger") == "item"]
    if expected.winner is None:
        assert item.state is ItemState.QUEUED
        if entries:
            assert entries[0]["winner"] is None
            entry = entries[0]
        else:
            return
    else:
        assert item.agent == expected.winner
        entry = entries[0]
        assert entry["winner"] == expected.winner
        assert [c["agent"] for c in entry["candidates"]] == expected.top
    excluded = entry["excluded"]
    skill = excluded.get("skill", {"count": 0, "agents": []})
    assert skill["count"] == expected.skill
    named = [n["agent"] for n in skill["agents"]]
    assert len(named) == min(10, expected.skill) and set(named) <= expected.short
    assert excluded.get("profile", {"count": 0})["count"] == expected.profile


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    agents=st.lists(agent_defs, min_size=1, max_size=16),
    methods=st.lists(st.sampled_from(METHODS), min_size=3, max_size=3),
    data=st.data(),
    plan=steps,
)
def test_index_picks_the_winner_and_top_five_a_full_scan_picks(
    agents: list[dict[str, Any]], methods: list[str], data: st.DataObject, plan: list[Any]
) -> None:
    """R16–R18, R43: winner, top five and skill/profile exclusion counts equal a brute-force scan."""
    count = len(agents)
    memberships = [
        data.draw(st.lists(st.integers(0, count - 1), unique=True, min_size=1)) for _ in MATCHES
    ]
    clock = ManualClock(0.0)
    engine = Engine(centre(agents, methods, memberships), clock=clock)
    assigned: list[str] = []
    for n, step in enumerate(plan):
        clock.set(1.0 + n)
        if step[0] == "submit":
            _, match, req = step
            expected = brute_force(engine, match, req)
            item = engine.submit(
                external_id=f"x{n}",
                workstream=ws_name(match),
                skills=[model.SkillReq(name=s, level=lv, optional=o) for s, lv, o in req["skills"]],
                units=req["units"],
                profiles=req["profiles"],
            )
            check_decision(item, expected)
            if item.state is ItemState.ASSIGNED:
                assigned.append(item.id)
        elif step[0] == "complete" and assigned:
            engine.complete(assigned.pop(step[1] % len(assigned)), wrap_up=False)
        elif step[0] == "presence":
            agent = f"a{step[1] % count}"
            engine.set_presence(agent, P(step[2]))


def test_an_index_no_decision_asks_for_is_dropped_and_rebuilt_exactly() -> None:
    """Issue 10 item 4: pushes follow the requirements in use. An index idle for longer than its
    rebuild costs is dropped; asked again, it is built from the pools and decides as a scan does."""
    agents = [
        {"skills": {"k0": 2, "k1": 3}, "capacity_units": 80},
        {"skills": {"k0": 4, "k1": 1}, "capacity_units": 80},
        {"skills": {"k1": 5}, "capacity_units": 120, "profiles": ["p0"]},
    ]
    clock = ManualClock(0.0)
    methods = ["round_robin", "round_robin", "round_robin"]  # every agent takes its turn
    engine = Engine(centre(agents, methods, [[0, 1, 2]] * 3), clock=clock)
    queue = engine._core.queues["q_exact"]
    first = {"skills": [("k0", 2, False)], "units": None, "profiles": []}
    other = {"skills": [("k1", 1, False)], "units": None, "profiles": []}
    key = (
        matching.Requirement.of([model.SkillReq(name="k0", level=2)], 40, []),
        model.SkillMatch.EXACT,
    )

    def submit(n: int, req: dict[str, Any]) -> Any:
        clock.set(float(n))
        expected = brute_force(engine, "exact", req)
        skills = [model.SkillReq(name=s, level=lv, optional=o) for s, lv, o in req["skills"]]
        item = engine.submit(external_id=f"x{n}", workstream="w_exact", skills=skills)
        check_decision(item, expected)
        return item

    engine.complete(submit(0, first).id, wrap_up=False)
    index = queue.reqs[key]
    for n in range(1, 200):
        engine.complete(submit(n, other).id, wrap_up=False)
    assert key not in queue.reqs
    assert all(fed is not index for pool in queue.pools.values() for fed, _ in pool.feeds)
    submit(200, first)
    assert queue.reqs[key] is not index


def test_indexes_follow_the_requirements_in_use_not_every_one_seen() -> None:
    """Issue 10 item 4: 200 distinct requirements, each asked once, leave a bounded set of indexes."""
    agents = [
        {"skills": {name: 1 + (n + k) % 6 for k, name in enumerate(SKILLS)}} for n in range(6)
    ]
    clock = ManualClock(0.0)
    engine = Engine(centre(agents, list(METHODS[:3]), [list(range(6))] * 3), clock=clock)
    queue = engine._core.queues["q_closest"]
    for n in range(200):
        clock.set(float(n))
        skills = [model.SkillReq(name=SKILLS[n % 4], level=1 + n % 6)]
        item = engine.submit(
            external_id=f"x{n}", workstream="w_closest", skills=skills, units=40 + n // 24
        )
        engine.complete(item.id, wrap_up=False)
    assert len(queue.reqs) < 30


def test_a_snapshot_keeps_the_requirement_indexes() -> None:
    """SPEC §9, issue 10 item 4: a restored engine holds the same indexes and decides the same."""
    agents = [
        {"skills": {name: 1 + (n * 7 + k) % 6 for k, name in enumerate(SKILLS)}} for n in range(8)
    ]
    config = centre(agents, ["round_robin", "most_skilled", "least_active"], [list(range(8))] * 3)
    clock = ManualClock(0.0)
    engine = Engine(config, clock=clock)
    for n in range(30):
        clock.set(float(n))
        match = MATCHES[n % 3]
        skills = [model.SkillReq(name=SKILLS[n % 4], level=1 + n % 5)]
        item = engine.submit(external_id=f"x{n}", workstream=ws_name(match), skills=skills)
        if n % 4:
            engine.complete(item.id, wrap_up=False)
    restored = Engine.restore(engine.snapshot(), config=config, clock=clock)
    for name, queue in engine._core.queues.items():
        again = restored._core.queues[name]
        assert set(again.reqs) == set(queue.reqs) and queue.reqs
        for key, index in queue.reqs.items():
            twin = again.reqs[key]
            assert (twin.live, twin.lacking, twin.entries) == (
                index.live,
                index.lacking,
                index.entries,
            )
        # The pools feed the restored indexes themselves, not copies of them.
        kept = {id(index) for index in again.reqs.values()}
        assert all(id(i) in kept for pool in again.pools.values() for i, _ in pool.feeds)
    for n in range(30, 40):
        clock.set(float(n))
        skills = [model.SkillReq(name=SKILLS[n % 4], level=1 + n % 5)]
        for eng in (engine, restored):
            eng.submit(external_id=f"x{n}", workstream=ws_name(MATCHES[n % 3]), skills=skills)
    assert [i.trace for i in engine.items()] == [i.trace for i in restored.items()]
