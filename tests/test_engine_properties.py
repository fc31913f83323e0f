"""Property-based invariants of the routing engine (STYLE "The tests"; SPEC §2, §3, §6.1).

``EngineMachine`` drives one engine (two workstreams of record kind, one push with auto-accept and
one pick, beside a push messaging workstream; four queues of four methods; six agents; capacity
profiles; wrap-up variants; a variant configuration to switch to) with random commands, and after
every step checks:

1. capacity: ``used_units`` and ``profile_used`` equal what the held items carry, computed from the
   log; nobody is over capacity or a blocking profile's limit except by force-assign (R16, R22, R31);
2. every item is in the state the log says, with a queue, one open offer or an agent as that state
   needs, and a reason once closed (SPEC §2);
3. no item in two agents' ``active``; ``active`` and ``offers`` match the items (R22);
4. every offer made once and ended at most once, an open one not at all (R23–R25);
5. at rest, no waiting push item beside a plainly eligible member with room (R11, R16, R21, R29);
plus TTL (R39), waited_s (R13), relaxation (R20), presence (R32), queue counts, and on the log:
``seq`` increasing, ``t`` never decreasing, offers expiring at ``expires_at``, scheduled items
starting on time (R37), declines limits (R25) and who the engine may choose (R16, R28).
A refused command must raise a ``CommandError``, emit nothing and change nothing (SPEC §6.1).
Two more properties replay command lists on fresh engines (and processes with other hash seeds)
and require identical event logs (R17: no random choice anywhere).

The model the checks compare against is rebuilt from the event log and the configuration
(``Driver._observe``), not from the engine's counters. The bugs the machine found are reproduced
deterministically at the end of the module as regression tests.
The module is long because the model, the vocabulary and the invariants only make sense together.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from unirouter import config as configuration
from unirouter import errors
from unirouter.config import model
from unirouter.engine.clock import ManualClock
from unirouter.engine.engine import Engine
from unirouter.engine.events import Event
from unirouter.engine.state import CloseReason, ItemState, OfferStatus

P = model.BasePresence
S = ItemState

BASE_YAML = """
skills:
  english: {levels: 5}
  french: {levels: 5}
  billing: {levels: 5}
capacity_profiles:
  chat: {limit: 2}
  email: {limit: 2}
  social: {limit: 1, blocking: false}
workstreams:
  web_chat:
    kind: messaging
    channels: [chat]
    capacity: {units: 30, profiles: [chat]}
    offer: {timeout_s: 20, max_declines_per_agent: 2, max_declines_total: 4}
    wrap_up: {block: 15}
    affinity: {enabled: true, grace_s: 40}
    auto_close_idle_s: 200
    ttl_s: 120
    fallback_queue: chat_main
    classification:
      - name: vip
        rules:
          - {when: item.vip == true, set: {priority: 50}}
    route_to_queue:
      - when: item.topic == "sales"
        split: {chat_main: 50, chat_overflow: 50}
      - when: item.topic == "billing"
        queue: chat_main
        steps:
          - {skills: [{name: billing, level: 3}], after_s: 0}
          - {skills: [], after_s: 30}
  email:
    kind: record
    channels: [email]
    capacity: {units: 40, profiles: [email]}
    skill_match: closest
    offer: {auto_accept: true}
    wrap_up: {block: always}
    fallback_queue: email_q
  tasks:
    kind: record
    mode: pick
    capacity: {units: 20}
    allowed_presences: [available]
    skill_match: none
    wrap_up: {block: none}
    fallback_queue: tasks_q
queues:
  chat_main:
    kind: messaging
    priority: 1
    members: [a1, a2, a3, a4]
    assignment: {method: round_robin}
    overflow:
      - {when: {waited_s: 90}, action: {transfer: chat_overflow}}
  chat_overflow:
    kind: messaging
    priority: 2
    members: [a3, a5]
    assignment: {method: highest_capacity}
    overflow:
      - {when: {max_waiting: 3}, action: end}
  email_q:
    kind: record
    priority: 1
    members: [a1, a5, a6]
    assignment: {method: least_active}
  tasks_q:
    kind: record
    priority: 3
    members: [a2, a4, a6]
    assignment: {method: most_skilled}
agents:
  a1: {skills: {english: 3, billing: 4}, profiles: [chat, email]}
  a2: {skills: {english: 5}, capacity_units: 60, profiles: {chat: 1}}
  a3: {skills: {english: 2, french: 4}, capacity_units: 45, profiles: [chat, social]}
  a4:
    skills: {french: 5, billing: 2}
    capacity_units: 50
    profiles: [chat, email]
    default_presence: away
  a5: {skills: {billing: 5}, capacity_units: 80, profiles: [email, social]}
  a6: {skills: {english: 1}, profiles: {email: 1}}
"""

# The variant changes methods, queue priorities, memberships, skills, offer and wrap-up settings, TTL
# and routes, but keeps every agent's capacity and profile limits: a shrinking limit would leave agents
# over capacity by the administrator's hand, which is not what invariant 1 is about.
VARIANT_YAML = """
skills:
  english: {levels: 5}
  french: {levels: 5}
  billing: {levels: 5}
capacity_profiles:
  chat: {limit: 2}
  email: {limit: 2}
  social: {limit: 1, blocking: false}
workstreams:
  web_chat:
    kind: messaging
    channels: [chat]
    capacity: {units: 30, profiles: [chat]}
    offer:
      timeout_s: 10
      max_declines_per_agent: 1
      max_declines_total: 2
      on_decline_presence: away
    wrap_up: {block: none}
    affinity: {enabled: true, grace_s: 20}
    ttl_s: 90
    fallback_queue: chat_overflow
    route_to_queue:
      - {when: item.topic == "sales", queue: chat_overflow}
  email:
    kind: record
    channels: [email]
    capacity: {units: 40, profiles: [email]}
    skill_match: closest
    offer: {timeout_s: 15, rejectable: false}
    wrap_up: {block: 25}
    fallback_queue: email_q
  tasks:
    kind: record
    mode: pick
    capacity: {units: 20}
    allowed_presences: [available]
    skill_match: none
    wrap_up: {block: 10}
    fallback_queue: tasks_q
queues:
  chat_main:
    kind: messaging
    priority: 2
    members: [a1, a2, a4]
    assignment: {method: highest_capacity}
    overflow:
      - {when: {waited_s: 45}, action: {transfer: chat_overflow}}
  chat_overflow:
    kind: messaging
    priority: 1
    members: [a1, a3, a5]
    assignment: {method: round_robin}
    overflow:
      - {when: {max_waiting: 2}, action: {callback: email_q}}
  email_q:
    kind: record
    priority: 2
    members: [a1, a4, a5, a6]
    assignment:
      method: custom
      rules:
        - {when: agent.free_units >= 60, order_by: agent.free_units}
        - {when: "true", order_by: least_active}
  tasks_q:
    kind: record
    priority: 1
    members: [a2, a5, a6]
    assignment: {method: least_active}
    aging: {every_s: 30, add: 5}
agents:
  a1: {skills: {english: 3, billing: 4}, profiles: [chat, email]}
  a2: {skills: {english: 5, billing: 3}, capacity_units: 60, profiles: {chat: 1}}
  a3: {skills: {english: 2, french: 4}, capacity_units: 45, profiles: [chat, social]}
  a4: {skills: {french: 5, billing: 2}, capacity_units: 50, profiles: [chat, email]}
  a5: {skills: {billing: 5}, capacity_units: 80, profiles: [email, social]}
  a6: {skills: {english: 2, french: 1}, profiles: {email: 1}}
"""


def _config(text: str) -> model.Config:
    return configuration.validate(yaml.safe_load(text))


CONFIGS = {"base": _config(BASE_YAML), "variant": _config(VARIANT_YAML)}
AGENTS = ("a1", "a2", "a3", "a4", "a5", "a6")
GHOST_ITEM, GHOST_OFFER, GHOST_AGENT = "w-ghost", "o-ghost", "ghost"
QUEUE_NAMES = ("chat_main", "chat_overflow", "email_q", "tasks_q", "nowhere")

# -- command vocabulary: every command is a tuple ``(name, *choices)`` drawn from these pools ----------

WORKSTREAMS = ("web_chat", "web_chat", "web_chat", "email", "email", "tasks", "tasks", "nope")
PRIORITIES = (None, None, None, 0, 5, 50, 100_000, 100_001)
SKILL_SETS: tuple[tuple[model.SkillReq, ...], ...] = (
    (),
    (model.SkillReq(name="english", level=1),),
    (model.SkillReq(name="billing", level=3),),
    (
        model.SkillReq(name="french", level=4),
        model.SkillReq(name="english", level=2, optional=True),
    ),
    (model.SkillReq(name="english", level=5),),
    (model.SkillReq(name="klingon", level=1),),
)
UNITS = (None, None, 0, 10, 30, 70, 200)
PROFILE_SETS: tuple[tuple[str, ...], ...] = ((), ("social",), ("email",), ("bogus",))
ATTRIBUTES: tuple[dict[str, Any], ...] = (
    {},
    {"topic": "sales"},
    {"topic": "billing"},
    {"vip": True},
)
DELAYS = (None, None, None, 0.0, 25.0, 80.0)
TTLS = (None, None, 60.0)
PREFERRED: tuple[tuple[str, ...] | None, ...] = (
    None,
    None,
    None,
    None,
    None,
    ("a1",),
    ("a4", "a2"),
    ("ghost",),
)
HINT = (True, True, True, False)
INDEX = range(64)
WHO = (0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7)  # 0: the offer's own agent; 1..6: AGENTS; 7: unknown
AGENT_INDEX = range(len(AGENTS) + 1)  # the last one is an unknown agent
PRESENCES = (
    P.AVAILABLE,
    P.AVAILABLE,
    P.AVAILABLE,
    P.BUSY,
    P.BUSY_DND,
    P.AWAY,
    P.OFFLINE,
    P.INACTIVE,
)
SECONDS = (0.0, 0.5, 1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 45.0, 60.0, 90.0, 150.0, 400.0)
CANCEL_REASONS = (CloseReason.ABANDONED, CloseReason.CANCELLED, CloseReason.COMPLETED)

COMMANDS: dict[str, tuple[Sequence[Any], ...]] = {
    "submit": (
        WORKSTREAMS,
        range(24),
        PRIORITIES,
        (0, 0, 0, 1, 2, 3, 4, 5),
        UNITS,
        (0, 0, 0, 1, 2, 3),
        range(len(ATTRIBUTES)),
        DELAYS,
        TTLS,
        range(len(PREFERRED)),
    ),
    "accept": ((True, True, False), INDEX, WHO),
    "decline": ((True, True, False), INDEX, WHO, (None, "busy")),
    "pick": (HINT, INDEX, AGENT_INDEX),
    "complete": (HINT, INDEX, (True, False)),
    "wrap_up": (HINT, INDEX),
    "close": (HINT, INDEX),
    "park": (HINT, INDEX),
    "resume": (HINT, INDEX),
    "cancel": (HINT, INDEX, CANCEL_REASONS),
    "transfer_queue": (HINT, INDEX, QUEUE_NAMES),
    "transfer_agent": (HINT, INDEX, AGENT_INDEX),
    "force_assign": (HINT, INDEX, AGENT_INDEX),
    "set_presence": (AGENT_INDEX, PRESENCES, (None, "lunch")),
    "disconnect": (AGENT_INDEX,),
    "reconnect": (AGENT_INDEX,),
    "update_item": (HINT, INDEX, range(len(ATTRIBUTES)), (None, 10, 90, 100_001)),
    "advance": (SECONDS,),
    "apply_config": (("variant", "base"),),
}

#: The item states a command is usually aimed at (an untargeted draw picks any item, or an unknown one).
TARGETS: dict[str, frozenset[ItemState]] = {
    "pick": frozenset({S.QUEUED}),
    "complete": frozenset({S.ASSIGNED}),
    "wrap_up": frozenset({S.ASSIGNED}),
    "close": frozenset({S.ASSIGNED, S.WRAP_UP, S.PARKED}),
    "park": frozenset({S.ASSIGNED}),
    "resume": frozenset({S.PARKED}),
    "cancel": frozenset({S.QUEUED, S.OFFERED, S.SCHEDULED, S.ASSIGNED}),
    "transfer_queue": frozenset({S.QUEUED, S.OFFERED, S.ASSIGNED}),
    "transfer_agent": frozenset({S.QUEUED, S.OFFERED, S.ASSIGNED}),
    "force_assign": frozenset({S.QUEUED, S.OFFERED, S.ASSIGNED}),
    "update_item": frozenset({S.QUEUED, S.OFFERED, S.SCHEDULED}),
}

Command = tuple[Any, ...]


def command(name: str) -> st.SearchStrategy[Command]:
    """The strategy of one command kind."""
    return st.tuples(st.just(name), *(st.sampled_from(pool) for pool in COMMANDS[name]))


any_command = st.one_of(*(command(name) for name in COMMANDS))


def random_commands(seed: int, count: int) -> list[Command]:
    """A reproducible command list drawn from the same pools without hypothesis."""
    rng = random.Random(seed)
    names = list(COMMANDS)
    out = []
    for _ in range(count):
        name = rng.choice(names)
        out.append((name, *(rng.choice(pool) for pool in COMMANDS[name])))
    return out


# -- driver: one engine, its log, and a model of the world rebuilt from the log ----------------------


@dataclass(frozen=True, slots=True)
class Submitted:
    """What intake should have recorded for an item, computed from the command and configuration."""

    workstream: str
    units: int
    profiles: tuple[str, ...]
    preferred: tuple[str, ...]
    #: The skills the command required; relaxation steps keep them (R20).
    skills: tuple[model.SkillReq, ...] = ()


@dataclass(frozen=True, slots=True)
class Call:
    """A resolved command: an engine method with concrete arguments."""

    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Driver:
    """Runs commands on a fresh engine and follows the event log with an independent model."""

    def __init__(self) -> None:
        self.clock = ManualClock(0.0)
        self.engine = Engine(CONFIGS["base"], clock=self.clock)
        self.log: list[Event] = []
        self.configs: dict[int, model.Config] = {1: CONFIGS["base"]}
        self.cfg = CONFIGS["base"]
        self.submitted: dict[str, Submitted] = {}
        self.item_ids: list[str] = []
        self.offer_ids: list[str] = []
        # the model, from events only
        self.state: dict[str, str] = {}
        self.queue: dict[str, str | None] = {}
        self.holder: dict[str, str | None] = {}
        self.forced: dict[str, bool] = {}
        self.release_at: dict[str, float | None] = {}
        self.offers_open: dict[str, tuple[str, str]] = {}
        self.offer_made: Counter[str] = Counter()
        self.offer_ends: dict[str, list[str]] = {}
        self.offer_expiry: dict[str, float] = {}
        self.refusals: Counter[tuple[str, str]] = Counter()
        self.refusals_total: Counter[str] = Counter()
        self.resumed: dict[str, tuple[float, str | None]] = {}
        self.answered: set[str] = set()
        self.blocked: set[str] = set()
        self.scheduled_for: dict[str, float] = {}
        self.queued_at: dict[str, float] = {}
        self.answered_since_queued: set[str] = set()
        self.first_queued: dict[str, tuple[int, float]] = {}
        self.route_rule: dict[str, tuple[int | None, str | None]] = {}
        self.config_seq = 0
        self.presence: dict[str, str] = {}
        self.current: Call | None = None
        self.just_ended: dict[str, tuple[str, str | None]] = {}
        self.direct: dict[str, str] = {}
        self.routed_at: dict[str, float] = {}
        self.last_seq = 0
        self.last_t = float("-inf")
        self.pump()

    # -- running -----------------------------------------------------------------------------------

    def run(self, cmd: Command) -> errors.CommandError | None:
        """Resolve and run one command; a refusal is returned (not raised), other errors propagate."""
        call = self.resolve(cmd)
        try:
            self.perform(call)
        except errors.CommandError as exc:
            return exc
        self.pump()
        return None

    def perform(self, call: Call) -> None:
        self.current = call
        if call.method == "advance":
            self.clock.advance(call.args[0])
            self.engine.advance()
        elif call.method == "apply_config":
            config = CONFIGS[call.args[0]]
            version = self.engine.apply_config(config)
            self.configs[version] = config
        elif call.method == "submit":
            self._submit(call.kwargs)
        else:
            getattr(self.engine, call.method)(*call.args, **call.kwargs)

    def _submit(self, kwargs: dict[str, Any]) -> None:
        known = self.engine.item_by_external_id(kwargs["workstream"], kwargs["external_id"])
        item = self.engine.submit(**kwargs)
        if known is not None:
            assert item is known, "a repeated submit must return the same item"
            return
        ws = self.cfg.workstreams[kwargs["workstream"]]
        units = ws.capacity.units if kwargs["units"] is None else kwargs["units"]
        profiles = tuple(dict.fromkeys([*ws.capacity.profiles, *(kwargs["profiles"] or [])]))
        self.submitted[item.id] = Submitted(
            workstream=kwargs["workstream"],
            units=units,
            profiles=profiles,
            preferred=tuple(kwargs["preferred_agents"] or ()),
            skills=tuple(kwargs["skills"] or ()),
        )

    def pump(self) -> list[Event]:
        new = self.engine.drain_events()
        for event in new:
            self._observe(event)
        self.log.extend(new)
        return new

    # -- resolving choices against the current state -------------------------------------------------

    def resolve(self, cmd: Command) -> Call:
        name, *choice = cmd
        if name == "submit":
            return self._resolve_submit(choice)
        if name in ("accept", "decline"):
            open_only, index, who = choice[:3]
            offer = self._pick_offer(open_only, index)
            kwargs: dict[str, Any] = {"agent": self._who(offer, who)}
            if name == "decline":
                kwargs["reason"] = choice[3]
            return Call(name, (offer,), kwargs)
        if name in ("set_presence", "disconnect", "reconnect"):
            agent = _agent(choice[0])
            args = (agent, *choice[1:2])
            return Call(name, args, {"label": choice[2]} if name == "set_presence" else {})
        if name in ("advance", "apply_config"):
            return Call(name, (choice[0],), {})
        item = self._pick_item(name, choice[0], choice[1])
        rest = choice[2:]
        kwargs = {}
        method = name
        if name in ("pick", "force_assign"):
            kwargs["agent"] = _agent(rest[0])
        elif name == "complete":
            kwargs["wrap_up"] = rest[0]
        elif name == "cancel":
            kwargs["reason"] = rest[0]
        elif name == "transfer_queue":
            method, kwargs["queue"] = "transfer", rest[0]
        elif name == "transfer_agent":
            method, kwargs["agent"] = "transfer", _agent(rest[0])
        elif name == "update_item":
            kwargs["attributes"], kwargs["priority"] = dict(ATTRIBUTES[rest[0]]), rest[1]
        return Call(method, (item,), kwargs)

    def _resolve_submit(self, choice: list[Any]) -> Call:
        ws, ext, priority, skills, units, profiles, attrs, delay, ttl, preferred = choice
        wanted = PREFERRED[preferred]
        kwargs = {
            "external_id": f"x{ext}",
            "workstream": ws,
            "priority": priority,
            "skills": list(SKILL_SETS[skills]) or None,
            "units": units,
            "profiles": list(PROFILE_SETS[profiles]) or None,
            "attributes": dict(ATTRIBUTES[attrs]),
            "available_at": None if delay is None else self.clock.now() + delay,
            "ttl_s": ttl,
            "preferred_agents": None if wanted is None else list(wanted),
        }
        return Call("submit", (), kwargs)

    def _pick_item(self, name: str, targeted: bool, index: int) -> str:
        if targeted:
            wanted = TARGETS[name]
            found = [i for i in self.item_ids if self.engine.item(i).state in wanted]
            if found:
                return found[index % len(found)]
        pool = [*self.item_ids, GHOST_ITEM]
        return pool[index % len(pool)]

    def _pick_offer(self, open_only: bool, index: int) -> str:
        if open_only:
            found = [o for o in self.offer_ids if self.engine.offer(o).status is OfferStatus.OPEN]
            if found:
                return found[index % len(found)]
        pool = [*self.offer_ids, GHOST_OFFER]
        return pool[index % len(pool)]

    def _who(self, offer: str, who: int) -> str:
        if who == 0:
            return self.engine.offer(offer).agent if offer != GHOST_OFFER else AGENTS[0]
        return _agent(who - 1)

    # -- the model ---------------------------------------------------------------------------------------

    def _observe(self, event: Event) -> None:
        """Follow one event: SPEC §6.1.1 order, and the item/offer/capacity model."""
        assert event.seq > self.last_seq, f"seq not increasing: {event.seq} after {self.last_seq}"
        assert event.t >= self.last_t, f"t went back: {event.to_dict()} after t={self.last_t}"
        self.last_seq, self.last_t = event.seq, event.t
        kind, item = event.type.value, event.item
        if kind == "presence_changed":
            self.presence[event.agent or ""] = str(event.data["presence"])
        elif kind == "config_applied":
            self.cfg = self.configs[event.data["version"]]
            self.config_seq = event.seq
        elif kind == "item_overflowed" and event.data.get("condition") == "max_waiting":
            self._check_max_waiting(event)
        elif kind == "item_created":
            assert item is not None and item not in self.state
            self.item_ids.append(item)
            self.state[item] = "routing"
            if item not in self.submitted:  # a callback made by overflow (R12)
                ws = self.cfg.workstreams[event.data["workstream"]]
                assert str(event.data["external_id"]).endswith(":callback")
                assert ws.kind is model.Kind.RECORD, f"callback under {event.data['workstream']}"
                self.submitted[item] = Submitted(
                    workstream=event.data["workstream"],
                    units=ws.capacity.units,
                    profiles=tuple(ws.capacity.profiles),
                    preferred=(),
                )
        elif kind in _STATE_OF_EVENT:
            assert item is not None
            self.state[item] = _STATE_OF_EVENT[kind]
            if kind == "item_queued":
                self.queue[item] = event.queue
                self.queued_at[item] = event.t
                self.answered_since_queued.discard(item)
                self.first_queued.setdefault(item, (event.seq, event.t))
            elif kind == "item_scheduled":
                self.scheduled_for[item] = float(event.data["available_at"])
            elif kind == "item_closed" and event.data.get("reason") == "expired":
                self._check_expiry(event)
            elif kind == "item_routed":
                self.routed_at.setdefault(item, event.t)
                self.route_rule.setdefault(item, (event.data.get("rule"), event.queue))
                due = self.scheduled_for.get(item)
                assert due is None or event.t == due, f"{item} routed at {event.t}, due {due} (R37)"
            elif kind == "item_resumed":
                self.resumed[item] = (event.t, event.data.get("affinity"))
            elif kind == "item_transferred" and event.agent is not None:
                self.direct[item] = event.agent
        elif kind == "offer_made":
            self._offer_made(event)
        elif kind in ("offer_accepted", "offer_declined", "offer_expired", "offer_withdrawn"):
            self._offer_ended(event)
        elif kind == "item_assigned":
            assert item is not None
            self._check_assignment(event)
            self.state[item] = "assigned"
            self.holder[item] = event.agent
            self.answered.add(item)
            self.answered_since_queued.add(item)
            self.forced[item] = bool(event.data.get("forced"))
        elif kind == "item_wrap_up":
            assert item is not None
            self.state[item] = "wrap_up"
            block = self.cfg.workstreams[self.submitted[item].workstream].wrap_up.block
            if block == "always":
                self.release_at[item] = None
            else:
                self.release_at[item] = event.t + (0.0 if block == "none" else float(block))

    def _check_max_waiting(self, event: Event) -> None:
        """R12: ``max_waiting: N`` overflows only when the queue holds N waiting items."""
        waiting = sum(
            1
            for i, s in self.state.items()
            if s in ("queued", "offered") and self.queue.get(i) == event.queue
        )
        rule = next(
            r
            for r in self.cfg.queues[event.queue or ""].overflow
            if r.condition[0] == "max_waiting"
        )
        assert waiting >= int(rule.condition[1] or 0), f"{event.to_dict()} with {waiting} waiting"

    def _check_expiry(self, event: Event) -> None:
        """R39: never expired before its time to live."""
        item = event.item or ""
        ttl = self.engine.item(item).ttl_s
        assert ttl is not None and event.t >= self.routed_at[item] + ttl, (
            f"early: {event.to_dict()}"
        )

    def _check_assignment(self, event: Event) -> None:
        """R16, R28: an automatic assignment or a pick goes to a member of the item's queue."""
        item, agent = event.item or "", event.agent or ""
        ended = self.just_ended.pop(item, None)
        call = self.current
        picked = call is not None and call.method == "pick" and call.args[0] == item
        answered = ended in (("offer_accepted", agent), ("offer_expired", agent))
        if event.data.get("forced") or answered:
            return  # force-assign, or an accepted offer (or R27 expiry) checked when made
        if picked:
            assert agent in self.cfg.queues[event.queue or ""].members, f"pick: {event.to_dict()}"
        elif self.direct.pop(item, None) != agent:
            self._check_chosen(event)

    def _check_chosen(self, event: Event) -> None:
        """R16: an agent the engine chose itself is a member, present as allowed, with the profiles."""
        item, agent = event.item or "", event.agent or ""
        sub = self.submitted[item]
        ws = self.cfg.workstreams[sub.workstream]
        assert agent in self.cfg.queues[event.queue or ""].members, (
            f"not a member: {event.to_dict()}"
        )
        presence = self.presence.get(agent)
        assert presence in ws.allowed_presences, f"{agent} is {presence}: {event.to_dict()}"
        missing = set(sub.profiles) - set(self.cfg.agents[agent].profiles)
        assert not missing, f"{agent} lacks profiles {missing}: {event.to_dict()}"

    def _offer_made(self, event: Event) -> None:
        assert event.offer is not None and event.item is not None and event.agent is not None
        if self.direct.pop(event.item, None) != event.agent:  # R31: a supervisor may insist
            self._check_chosen(event)
            offer = self.cfg.workstreams[self.submitted[event.item].workstream].offer
            refused = self.refusals[(event.item, event.agent)]
            assert refused < offer.max_declines_per_agent, (
                f"{event.offer}: {event.item} offered to {event.agent} after {refused} refusals (R25)"
            )
            assert event.item not in self.blocked, (
                f"{event.offer}: {event.item} offered after max_declines_total (R25)"
            )
        self.offer_ids.append(event.offer)
        self.offer_made[event.offer] += 1
        self.offer_ends.setdefault(event.offer, [])
        self.offers_open[event.offer] = (event.item, event.agent)
        self.offer_expiry[event.offer] = float(event.data["expires_at"])
        self.state[event.item] = "offered"
        self.queue[event.item] = event.queue

    def _offer_ended(self, event: Event) -> None:
        assert event.offer is not None and event.item is not None
        kind = event.type.value
        self.offer_ends.setdefault(event.offer, []).append(kind)
        self.offers_open.pop(event.offer, None)
        if kind == "offer_expired":
            expected = self.offer_expiry.get(event.offer)
            assert event.t == expected, f"offer {event.offer} expired at {event.t}, not {expected}"
        if kind in ("offer_declined", "offer_expired"):
            self.refusals[(event.item, event.agent or "")] += 1
            self.refusals_total[event.item] += 1
            offer = self.cfg.workstreams[self.submitted[event.item].workstream].offer
            if self.refusals_total[event.item] >= offer.max_declines_total:
                self.blocked.add(event.item)
        if kind != "offer_accepted":
            self.state[event.item] = "queued"
        self.just_ended[event.item] = (kind, event.agent)

    # -- model queries ------------------------------------------------------------------------------------

    def held_by(self, agent: str) -> list[str]:
        """Items whose capacity ``agent`` holds, from the log: open offers to it, items assigned to it,
        and its items in wrap-up whose release time (R33) has not come."""
        now = self.engine.now
        held = [item for item, who in self.offers_open.values() if who == agent]
        for item, state in self.state.items():
            if self.holder.get(item) != agent:
                continue
            if state == "assigned":
                held.append(item)
            elif state == "wrap_up":
                release = self.release_at[item]
                if release is None or now < release:
                    held.append(item)
        return held

    def units(self, items: list[str]) -> int:
        return sum(self.submitted[i].units for i in items)

    def profile_count(self, items: list[str], profile: str) -> int:
        return sum(profile in self.submitted[i].profiles for i in items)

    def profile_limit(self, agent: str, profile: str) -> int | None:
        """The agent's limit of a blocking profile it holds; None when it never refuses."""
        cfg = self.cfg.capacity_profiles[profile]
        override = self.cfg.agents[agent].profiles[profile]
        if not cfg.blocking:
            return None
        return cfg.limit if override is None else override

    # -- full state digest for refused commands ---------------------------------------------------------

    def digest(self) -> dict[str, Any]:
        engine = self.engine
        items = {item.id: copy.deepcopy(_fields(item, ITEM_FIELDS)) for item in engine.items()}
        agents = {
            agent.id: copy.deepcopy(_fields(agent, AGENT_FIELDS)) for agent in engine.agents()
        }
        offers = {
            offer: _fields(engine.offer(offer), ("status", "agent", "item", "expires_at"))
            for offer in self.offer_ids
        }
        queues = {
            name: (engine.queue_status(name), [i.id for i in engine.waiting_items(name)])
            for name in engine.queue_names()
        }
        return {
            "items": items,
            "agents": agents,
            "offers": offers,
            "queues": queues,
            "now": engine.now,
            "version": engine.config_version,
            "next_deadline": engine.next_deadline(),
        }


_STATE_OF_EVENT = {
    "item_scheduled": "scheduled",
    "item_classified": "routing",
    "item_routed": "routing",
    "item_queued": "queued",
    "item_parked": "parked",
    "item_resumed": "routing",
    "item_transferred": "routing",
    "item_closed": "closed",
}

ITEM_FIELDS = (
    "state",
    "queue",
    "agent",
    "offer",
    "close_reason",
    "priority",
    "attributes",
    "skills",
    "units",
    "profiles",
    "auto_blocked",
    "affinity_agent",
    "declines",
    "declines_total",
    "forced",
    "timers",
    "trace",
)
AGENT_FIELDS = (
    "presence",
    "label",
    "manual",
    "connected",
    "used_units",
    "profile_used",
    "active",
    "offers",
    "queues",
    "last_assigned",
    "last_release",
    "timers",
    "presence_before_disconnect",
)


def _fields(obj: object, names: Sequence[str]) -> dict[str, Any]:
    out = {name: getattr(obj, name, None) for name in names}
    if "trace" in out:
        out["trace"] = len(out["trace"] or ())
    return out


def _agent(index: int) -> str:
    return AGENTS[index] if index < len(AGENTS) else GHOST_AGENT


def event_log(commands: list[Command]) -> list[dict[str, Any]]:
    """Run ``commands`` on a fresh engine and return its event log as SPEC §6.1.1 objects."""
    driver = Driver()
    for cmd in commands:
        driver.run(cmd)
    driver.pump()
    return [event.to_dict() for event in driver.log]


def event_log_digest(commands: list[Command]) -> str:
    text = json.dumps(event_log(commands), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- the state machine -----------------------------------------------------------------------------


class EngineMachine(RuleBasedStateMachine):
    """Random command sequences against one engine; invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.d = Driver()

    # -- running a command ----------------------------------------------------------------------------

    def do(self, cmd: Command) -> None:
        d = self.d
        due = d.engine.next_deadline()
        if due is not None and due <= d.engine.now:
            # A timer armed at "now" by the last command fires at the next one; fire it first so
            # that a refused command is judged on its own.
            d.engine.advance()
            d.pump()
        call = d.resolve(cmd)
        expected = self.expected_refusal(call)
        repeat = call.method == "submit" and (
            d.engine.item_by_external_id(call.kwargs["workstream"], call.kwargs["external_id"])
            is not None
        )
        before = d.digest()
        note(f"{cmd} -> {call.method}{call.args} {call.kwargs}")
        try:
            d.perform(call)
        except errors.CommandError as exc:
            note(f"  refused: {type(exc).__name__}: {exc}")
            emitted = d.engine.drain_events()
            assert emitted == [], f"refused {call} emitted {[e.to_dict() for e in emitted]}"
            after = d.digest()
            assert after == before, f"refused {call} changed state: {_diff(before, after)}"
            if expected is _SUCCEEDS:
                raise AssertionError(f"{call} must succeed but was refused: {exc!r}") from exc
            if isinstance(expected, type):
                assert isinstance(exc, expected), f"{call} raised {exc!r}, expected {expected}"
            return
        events = d.pump()
        note(f"  events: {[(e.type.value, e.item, e.agent, e.offer) for e in events]}")
        if repeat:
            assert events == [], f"a repeated submit emitted {[e.to_dict() for e in events]}"
        assert not isinstance(expected, type), f"{call} must be refused with {expected}"

    def expected_refusal(self, call: Call) -> type[errors.CommandError] | object | None:
        """What the SPEC says must happen where it is plain: the error class a refusal must be
        (``CommandError`` when several reasons apply and their order is not specified), _SUCCEEDS,
        or None when either outcome is acceptable."""
        if call.method in ("accept", "decline"):
            return self._expected_answer(call)
        if call.method in ("set_presence", "disconnect", "reconnect"):
            return self._expected_agent_command(call)
        if call.method == "submit":
            return self._expected_submit(call.kwargs)
        if call.method in ("advance", "apply_config"):
            return None
        e = self.d.engine
        item_id = call.args[0]
        ghost = call.kwargs.get("agent") == GHOST_AGENT or call.kwargs.get("queue") == "nowhere"
        if item_id == GHOST_ITEM:
            return errors.NotFound
        state = e.item(item_id).state
        if state not in _ALLOWED_FROM[call.method]:
            return errors.CommandError if ghost else errors.Conflict
        if ghost:
            return errors.NotFound
        if call.method == "pick":
            members = self.d.cfg.queues[e.item(item_id).queue or ""].members
            return None if call.kwargs["agent"] in members else errors.NotEligible  # R28
        if call.method in ("complete", "wrap_up", "resume", "close"):
            return _SUCCEEDS
        if call.method == "cancel":
            reason = call.kwargs["reason"]
            if reason is CloseReason.CANCELLED:
                return _SUCCEEDS
            if reason is CloseReason.ABANDONED:
                waiting = state in (S.QUEUED, S.OFFERED, S.SCHEDULED, S.ROUTING)
                return _SUCCEEDS if waiting else errors.Conflict
            return errors.InvalidCommand
        if call.method == "transfer" and "queue" in call.kwargs:
            kind = self.d.cfg.workstreams[self.d.submitted[item_id].workstream].kind
            same = self.d.cfg.queues[call.kwargs["queue"]].kind is kind
            return None if same else errors.InvalidCommand  # R31: same kind only
        if call.method == "update_item" and call.kwargs["priority"] == 100_001:
            return errors.InvalidCommand
        return None

    def _expected_answer(self, call: Call) -> type[errors.CommandError] | object | None:
        """R24, R27: only the offer's own agent answers an open offer; records may be unrejectable."""
        e = self.d.engine
        offer_id, agent = call.args[0], call.kwargs["agent"]
        if offer_id == GHOST_OFFER or agent == GHOST_AGENT:
            return errors.NotFound
        offer = e.offer(offer_id)
        if offer.agent != agent or offer.status is not OfferStatus.OPEN:
            return errors.OfferNotOpen
        workstream = self.d.submitted[offer.item].workstream
        rejectable = self.d.cfg.workstreams[workstream].offer.rejectable
        return _SUCCEEDS if call.method == "accept" or rejectable else errors.Conflict

    def _expected_agent_command(self, call: Call) -> type[errors.CommandError] | object | None:
        """R32: ``inactive`` is system-set only; R35: disconnect a connected agent and back."""
        agent = call.args[0]
        if agent == GHOST_AGENT:
            return errors.NotFound
        if call.method == "set_presence":
            return errors.InvalidCommand if call.args[1] is P.INACTIVE else _SUCCEEDS
        connected = self.d.engine.agent(agent).connected
        return _SUCCEEDS if connected == (call.method == "disconnect") else errors.Conflict

    def _expected_submit(self, kwargs: dict[str, Any]) -> type[errors.CommandError] | object | None:
        """Intake is idempotent per workstream and external id; bad values are refused."""
        e = self.d.engine
        if kwargs["workstream"] not in self.d.cfg.workstreams:
            return errors.NotFound
        if e.item_by_external_id(kwargs["workstream"], kwargs["external_id"]) is not None:
            return _SUCCEEDS
        bad = (
            kwargs["priority"] == 100_001
            or any(s.name == "klingon" for s in kwargs["skills"] or ())
            or "bogus" in (kwargs["profiles"] or ())
            or GHOST_AGENT in (kwargs["preferred_agents"] or ())
        )
        return errors.InvalidCommand if bad else _SUCCEEDS

    # -- rules -------------------------------------------------------------------------------------------

    @initialize(cmds=st.lists(command("submit"), min_size=2, max_size=6))
    def some_work_arrives(self, cmds: list[Command]) -> None:
        for cmd in cmds:
            self.do(cmd)

    @rule(cmds=st.lists(command("submit"), min_size=1, max_size=3))
    def submit(self, cmds: list[Command]) -> None:
        for cmd in cmds:
            self.do(cmd)

    @precondition(lambda self: self.d.offer_ids)
    @rule(cmd=command("accept"))
    def accept(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.offer_ids)
    @rule(cmd=command("decline"))
    def decline(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=command("pick"))
    def pick(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=st.one_of(command("complete"), command("wrap_up"), command("close")))
    def finish(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=st.one_of(command("park"), command("resume")))
    def park_or_resume(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=command("cancel"))
    def cancel(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=st.one_of(command("transfer_queue"), command("transfer_agent")))
    def transfer(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=command("force_assign"))
    def force_assign(self, cmd: Command) -> None:
        self.do(cmd)

    @rule(cmd=command("set_presence"))
    def set_presence(self, cmd: Command) -> None:
        self.do(cmd)

    @rule(cmd=st.one_of(command("disconnect"), command("reconnect"), command("reconnect")))
    def connection(self, cmd: Command) -> None:
        self.do(cmd)

    @precondition(lambda self: self.d.item_ids)
    @rule(cmd=command("update_item"))
    def update_item(self, cmd: Command) -> None:
        self.do(cmd)

    @rule(cmd=command("advance"))
    def advance(self, cmd: Command) -> None:
        self.do(cmd)

    @rule(cmd=command("apply_config"))
    def apply_config(self, cmd: Command) -> None:
        self.do(cmd)

    # -- invariants ------------------------------------------------------------------------------------

    @invariant()
    def capacity_is_the_sum_of_held_items_and_never_exceeded(self) -> None:
        """1. R16, R22, R31: used units are the held items' units; over capacity only by force-assign."""
        d = self.d
        for agent in d.engine.agents():
            held = d.held_by(agent.id)
            units = d.units(held)
            assert agent.used_units == units, (
                f"{agent.id} used_units={agent.used_units}, but holds {held} worth {units}"
            )
            unforced = [i for i in held if not d.forced.get(i, False)]
            capacity = d.cfg.agents[agent.id].capacity_units
            assert d.units(unforced) <= capacity, (
                f"{agent.id} holds {unforced} without force: {d.units(unforced)} > {capacity}"
            )
            if len(unforced) == len(held):
                assert agent.used_units <= agent.capacity_units, f"{agent.id} over capacity"
            for profile in d.cfg.capacity_profiles:
                count = d.profile_count(held, profile)
                used = agent.profile_used.get(profile, 0)
                assert used == count, f"{agent.id} profile_used[{profile}]={used}, holds {count}"
                limit = None
                if profile in d.cfg.agents[agent.id].profiles:
                    limit = d.profile_limit(agent.id, profile)
                if limit is not None:
                    plain = d.profile_count(unforced, profile)
                    assert plain <= limit, f"{agent.id} over profile {profile}: {plain} > {limit}"

    @invariant()
    def queue_counters_equal_a_recount_of_item_states(self) -> None:
        """SPEC §2: each queue's waiting and offered counts, kept by the one transition writer, equal a
        recount of its items' states after every command."""
        e = self.d.engine
        for name, queue in e._core.queues.items():
            mine = [i for i in e._core.items.values() if i.queue == name]
            waiting = sum(i.state in (S.QUEUED, S.OFFERED) for i in mine)
            offered = sum(i.state is S.OFFERED for i in mine)
            assert (queue.waiting, queue.offered) == (waiting, offered), (
                f"{name}: counters {(queue.waiting, queue.offered)} != recount {(waiting, offered)}"
            )

    @invariant()
    def every_item_is_in_one_consistent_state(self) -> None:
        """2. SPEC §2: the state the log says; waiting items have a queue, offers one open offer."""
        d, e = self.d, self.d.engine
        open_by_item = Counter(item for item, _ in d.offers_open.values())
        assert sorted(d.item_ids) == sorted(i.id for i in e.items())
        for item_id in d.item_ids:
            item = e.item(item_id)
            assert item.state.value == d.state[item_id], (
                f"{item_id} is {item.state} but the log says {d.state[item_id]}"
            )
            assert item.units == d.submitted[item_id].units, f"{item_id} units {item.units}"
            if item.state in (S.QUEUED, S.OFFERED):
                assert item.queue is not None and item.queue == d.queue.get(item_id), (
                    f"{item_id} in queue {item.queue}, the log says {d.queue.get(item_id)}"
                )
            if item.state is S.OFFERED:
                assert open_by_item[item_id] == 1, f"{item_id} has {open_by_item[item_id]} offers"
                assert item.offer is not None
                offer = e.offer(item.offer)
                assert offer.status is OfferStatus.OPEN and offer.item == item_id
                assert d.offers_open[item.offer] == (item_id, offer.agent)
            else:
                assert open_by_item[item_id] == 0, f"{item_id} is {item.state} with an open offer"
                assert item.offer is None, f"{item_id} is {item.state} but offer={item.offer}"
            if item.state in (S.ASSIGNED, S.WRAP_UP):
                assert item.agent is not None and item.agent == d.holder.get(item_id)
            if item.state is S.CLOSED:
                assert item.close_reason is not None
            else:
                assert item.close_reason is None
            assert item.state is not S.ROUTING, f"{item_id} left in routing at rest"

    @invariant()
    def an_item_is_with_at_most_one_agent(self) -> None:
        """3. No item in two agents' ``active``; ``active`` and ``offers`` match the items (R22)."""
        d, e = self.d, self.d.engine
        seen: dict[str, str] = {}
        for agent in e.agents():
            for item_id in agent.active:
                assert item_id not in seen, f"{item_id} active for {seen[item_id]} and {agent.id}"
                seen[item_id] = agent.id
            assigned = {
                i for i, s in d.state.items() if s == "assigned" and d.holder.get(i) == agent.id
            }
            assert set(agent.active) == assigned, f"{agent.id} active {agent.active} != {assigned}"
            mine = {o for o, (_, who) in d.offers_open.items() if who == agent.id}
            assert set(agent.offers) == mine, f"{agent.id} offers {agent.offers} != {mine}"
        for offer_id, (item_id, _) in d.offers_open.items():
            assert e.item(item_id).state is S.OFFERED, f"open {offer_id} for a non-offered item"

    @invariant()
    def every_offer_ends_exactly_once(self) -> None:
        """4. R23–R25: one offer_made per offer and at most one ending; an open offer has none."""
        d, e = self.d, self.d.engine
        for offer_id in d.offer_ids:
            ends = d.offer_ends[offer_id]
            assert d.offer_made[offer_id] == 1, f"{offer_id} made {d.offer_made[offer_id]} times"
            assert len(ends) <= 1, f"{offer_id} ended {ends}"
            status = e.offer(offer_id).status
            if status is OfferStatus.OPEN:
                assert ends == [] and offer_id in d.offers_open, f"open {offer_id} ended {ends}"
            else:
                assert ends == [f"offer_{status.value}"], f"{offer_id} is {status}, log {ends}"

    @invariant()
    def no_waiting_item_beside_an_obviously_eligible_free_agent(self) -> None:
        """5. R11, R16, R21: at rest no plainly eligible member has room for a waiting push item.

        Conservative: items that were declined often or name preferred agents are skipped, as are
        custom queues and members that ever declined or let expire the item. An item returning by
        affinity (R9, R29) is checked against its last agent only, or against every member once
        that agent declined it for good (R25) or a grace period passed while it is not a member.
        """
        d, e = self.d, self.d.engine
        cfg = d.cfg
        block_after = min(
            c.workstreams[w].offer.max_declines_total
            for c in CONFIGS.values()
            for w in c.workstreams
        )
        for item_id, state in d.state.items():
            if state != "queued":
                continue
            item, sub = e.item(item_id), d.submitted[item_id]
            ws = cfg.workstreams[sub.workstream]
            queue = cfg.queues[item.queue or ""]
            if (
                ws.mode is not model.Mode.PUSH
                or item.auto_blocked
                or d.refusals_total[item_id] >= block_after
                or sub.preferred
                or queue.assignment.method is model.Method.CUSTOM
            ):
                continue
            for agent_id in self._candidates(item_id, queue.members):
                reason = self._why_not(agent_id, item_id, ws)
                assert reason is not None, (
                    f"{item_id} waits in {item.queue} (units {sub.units}, profiles "
                    f"{sub.profiles}, skills {item.skills}) while {agent_id} is eligible and free"
                )

    def _candidates(self, item_id: str, members: list[str]) -> list[str]:
        """Members an item waits for: all, or only its last agent while it returns by affinity."""
        d = self.d
        returned, last = d.resumed.get(item_id), d.engine.item(item_id).affinity_agent
        if returned is None or last is None:
            return list(members)
        workstream = d.submitted[item_id].workstream
        most = max(c.workstreams[workstream].offer.max_declines_per_agent for c in CONFIGS.values())
        if d.refusals[(item_id, last)] >= most:
            return list(members)  # R25: never offered to the last agent again
        if last in members:
            return [last]
        grace = max(c.workstreams[workstream].affinity.grace_s for c in CONFIGS.values())
        return list(members) if d.engine.now >= returned[0] + grace else []

    def _why_not(self, agent_id: str, item_id: str, ws: model.Workstream) -> str | None:
        d = self.d
        agent, sub, item = d.engine.agent(agent_id), d.submitted[item_id], d.engine.item(item_id)
        if agent.presence not in ws.allowed_presences:
            return "presence"
        if d.refusals[(item_id, agent_id)]:
            return "declined"
        held = d.held_by(agent_id)
        if d.cfg.agents[agent_id].capacity_units - d.units(held) < sub.units:
            return "capacity"
        for profile in sub.profiles:
            if profile not in d.cfg.agents[agent_id].profiles:
                return "profile"
            limit = d.profile_limit(agent_id, profile)
            if limit is not None and d.profile_count(held, profile) >= limit:
                return "profile"
        if ws.skill_match is not model.SkillMatch.NONE:
            levels = d.cfg.agents[agent_id].skills
            for req in item.skills:
                if not req.optional and levels.get(req.name, 0) < req.level:
                    return "skill"
        return None

    @invariant()
    def waiting_items_do_not_outlive_their_ttl(self) -> None:
        """R39: a waiting item older than its time to live has closed as expired.

        Only items never answered: whether an answered item moved back to waiting expires by its
        first routing time is not plain from the SPEC."""
        d, e = self.d, self.d.engine
        for item_id, state in d.state.items():
            if state not in ("queued", "offered") or item_id in d.answered:
                continue
            ttl, routed = e.item(item_id).ttl_s, d.routed_at[item_id]
            if ttl is not None:
                assert e.now < routed + ttl, (
                    f"{item_id} waits at {e.now}, routed at {routed} with ttl {ttl}"
                )

    @invariant()
    def waiting_items_overflow_after_waited_s(self) -> None:
        """R13: an item waits in a queue with a ``waited_s`` rule no longer than that (the longest
        such rule of any configuration, since the rule may change while it waits)."""
        d, e = self.d, self.d.engine
        for item_id, state in d.state.items():
            if state not in ("queued", "offered") or item_id in d.answered_since_queued:
                continue  # back from an agent without entering a queue: when its wait began is moot
            queue = d.queue[item_id] or ""
            if not any(r.condition[0] == "waited_s" for r in d.cfg.queues[queue].overflow):
                continue
            longest = max(_waited_s(c, queue) for c in CONFIGS.values())
            assert e.now < d.queued_at[item_id] + longest, (
                f"{item_id} waits in {queue} since {d.queued_at[item_id]}, now {e.now} (R13)"
            )

    @invariant()
    def skill_requirements_relax_on_time(self) -> None:
        """R20: an item of the billing route needs billing 3 for its first 30 s queued, then only the
        skills it was submitted with (checked while no configuration was applied since it first
        queued and no timer is due); a step naming one of those replaces its level."""
        d, e = self.d, self.d.engine
        due = e.next_deadline()
        if due is not None and due <= e.now:
            return
        for item_id, state in d.state.items():
            first = d.first_queued.get(item_id)
            if state not in ("queued", "offered") or first is None or d.config_seq > first[0]:
                continue
            if item_id in d.answered_since_queued:
                continue  # back from an agent without entering a queue: its wait is moot
            if d.route_rule.get(item_id) != (1, "chat_main") or d.cfg is not CONFIGS["base"]:
                continue
            relaxed = e.now >= first[1] + 30
            step = () if relaxed else (model.SkillReq(name="billing", level=3),)
            kept = tuple(
                r for r in d.submitted[item_id].skills if r.name not in {q.name for q in step}
            )
            want = (*kept, *step)
            skills = tuple(e.item(item_id).skills)
            assert skills == want, f"{item_id} first queued at {first[1]}, now {e.now}: {skills}"

    @invariant()
    def presence_follows_the_load(self) -> None:
        """R32: unless set by hand, nothing used → available, all used → busy_dnd, else busy
        (or busy_dnd when every profile is full)."""
        d = self.d
        for agent in d.engine.agents():
            if agent.manual or not agent.connected or getattr(agent, "held", False):
                continue  # chosen by hand, disconnected (R35), or a system penalty (R26)
            if agent.presence not in (P.AVAILABLE, P.BUSY, P.BUSY_DND):
                continue  # a penalty (R26) stays until the agent changes presence
            held = d.held_by(agent.id)
            units, capacity = d.units(held), d.cfg.agents[agent.id].capacity_units
            if not held:
                expected: tuple[model.BasePresence, ...] = (P.AVAILABLE,)
            elif units >= capacity > 0:
                expected = (P.BUSY_DND,)
            elif units > 0:
                expected = (P.BUSY, P.BUSY_DND)
            else:  # only zero-unit items: whether that is "nothing used" is not plain
                expected = (P.AVAILABLE, P.BUSY, P.BUSY_DND)
            assert agent.presence in expected, (
                f"{agent.id} is {agent.presence} holding {held} ({units}/{capacity} units)"
            )

    @invariant()
    def queue_counts_match_the_items(self) -> None:
        """queue_status counts (also behind max_waiting, R12) equal the waiting and offered items."""
        d, e = self.d, self.d.engine
        for name in e.queue_names():
            status = e.queue_status(name)
            waiting = [
                i
                for i, s in d.state.items()
                if s in ("queued", "offered") and e.item(i).queue == name
            ]
            offered = [i for i in waiting if d.state[i] == "offered"]
            assert status["waiting"] == len(waiting), f"{name} waiting {status}, items {waiting}"
            assert status["offered"] == len(offered), f"{name} offered {status}, items {offered}"
            listed = {i.id for i in e.waiting_items(name)}
            queued = {i for i in waiting if d.state[i] == "queued"}
            assert listed == queued, f"{name} waiting_items {listed} != queued {queued}"
            if set(waiting) & d.answered_since_queued:
                continue  # an item back from an agent without entering a queue: its wait is moot
            # Offered items wait too (SPEC §8, issue 16 item 2).
            oldest = min((d.queued_at[i] for i in waiting), default=e.now)
            assert status["longest_wait_s"] == e.now - oldest, (
                f"{name} longest_wait_s {status['longest_wait_s']}, oldest queued at {oldest}"
            )


def _waited_s(config: model.Config, queue: str) -> float:
    rules = [r.condition[1] for r in config.queues[queue].overflow if r.condition[0] == "waited_s"]
    return max((float(v or 0) for v in rules), default=0.0)


_SUCCEEDS = object()

_ALLOWED_FROM: dict[str, frozenset[ItemState]] = {
    "complete": frozenset({S.ASSIGNED}),
    "wrap_up": frozenset({S.ASSIGNED}),
    "close": frozenset({S.ASSIGNED, S.WRAP_UP, S.PARKED}),
    "park": frozenset({S.ASSIGNED}),
    "resume": frozenset({S.PARKED}),
    "pick": frozenset({S.QUEUED}),
    "transfer": frozenset({S.QUEUED, S.OFFERED, S.ASSIGNED}),
    "force_assign": frozenset({S.QUEUED, S.OFFERED, S.ASSIGNED}),
    "update_item": frozenset({S.QUEUED, S.OFFERED, S.SCHEDULED}),
    "cancel": frozenset(set(S) - {S.CLOSED}),
}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    out = []
    for section in before:
        old, new = before[section], after.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new), key=str):
                if old.get(key) != new.get(key):
                    out.append(f"{section}[{key}]: {old.get(key)} -> {new.get(key)}")
        elif old != new:
            out.append(f"{section}: {old} -> {new}")
    return "; ".join(out)


# No shrink phase by default: a failing run of 60 steps with every invariant after each can take
# hypothesis minutes to shrink, and each engine bug it found has a minimal reproduction below. Set
# UNIROUTER_SHRINK=1 to shrink a new failure.
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
EngineMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    phases=[*_PHASES, Phase.shrink] if os.environ.get("UNIROUTER_SHRINK") else _PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngine = EngineMachine.TestCase


# -- determinism (STYLE: the same commands give the same events) -----------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(any_command, max_size=80))
def test_the_same_commands_give_the_same_events(commands: list[Command]) -> None:
    """Replaying a recorded command list on two fresh engines gives identical event logs (R17)."""
    assert event_log(commands) == event_log(commands)


def test_the_event_log_does_not_depend_on_the_hash_seed() -> None:
    """No routing decision depends on set or dict order of hashed names: two processes with
    different ``PYTHONHASHSEED`` replay a long command list into the same event log."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_engine_properties as m; "
        "print(m.event_log_digest(m.random_commands(2024, 400)))"
    )
    digests = set()
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(done.stdout.strip())
    digests.add(event_log_digest(random_commands(2024, 400)))
    assert len(digests) == 1


# -- engine bugs the machine found, each reduced to a deterministic regression test ------------------


DIRECT_TRANSFER_YAML = """
skills: {billing: {}}
workstreams:
  chat:
    kind: messaging
    ttl_s: 60
    fallback_queue: q
    route_to_queue:
      - when: "true"
        queue: q
        steps: [{skills: [{name: billing, level: 3}], after_s: 0}, {skills: [], after_s: 40}]
queues:
  q:
    kind: messaging
    members: [a]
    overflow: [{when: {waited_s: 30}, action: {transfer: spill}}]
  spill: {kind: messaging}
agents:
  a: {default_presence: away}
"""


def _declined_direct_transfer(rig: Any, text: str) -> tuple[Any, Any]:
    """An item queued at t=10, transferred to agent ``a`` who declines at once."""
    r = rig(text, t0=10.0)
    item = r.engine.submit(external_id="c1", workstream="chat")
    r.engine.transfer(item.id, agent="a")
    r.engine.decline(r.last_offer(item.id).offer or "", agent="a")
    assert item.state is S.QUEUED
    return r, item


def test_r39_ttl_still_expires_an_item_whose_direct_transfer_was_declined(rig: Any) -> None:
    """R39: a waiting item older than its TTL closes as expired, even after a declined direct offer."""
    r, item = _declined_direct_transfer(
        rig, DIRECT_TRANSFER_YAML.replace("waited_s: 30", "waited_s: 900")
    )
    r.at(75.0)
    assert item.state is S.CLOSED and item.close_reason is CloseReason.EXPIRED


def test_r13_waited_s_still_overflows_an_item_whose_direct_transfer_was_declined(rig: Any) -> None:
    """R13: the waited_s rule moves an item that still waits, even after a declined direct offer."""
    r, item = _declined_direct_transfer(
        rig, DIRECT_TRANSFER_YAML.replace("ttl_s: 60", "ttl_s: 900")
    )
    r.at(45.0)
    assert item.queue == "spill"


def test_r20_skills_still_relax_for_an_item_whose_direct_transfer_was_declined(rig: Any) -> None:
    """R20: 40 s after its first queueing the item needs no skill, even after a declined direct offer."""
    text = DIRECT_TRANSFER_YAML.replace("ttl_s: 60", "ttl_s: 900").replace(
        "waited_s: 30", "waited_s: 900"
    )
    r, item = _declined_direct_transfer(rig, text)
    r.at(55.0)
    assert item.skills == ()


def test_r16_an_item_with_fewer_units_than_its_workstream_default_reaches_a_free_agent(
    rig: Any,
) -> None:
    """R16: free units >= the item's units is enough, whatever the workstream's default units."""
    r = rig(
        """
        workstreams:
          chat: {kind: messaging, capacity: {units: 30}, offer: {auto_accept: true}, fallback_queue: q}
        queues:
          q: {kind: messaging, members: [a]}
        agents:
          a: {capacity_units: 50}
        """,
        t0=5.0,
    )
    r.engine.submit(external_id="big", workstream="chat")
    assert r.engine.agent("a").free_units == 20
    small = r.engine.submit(external_id="small", workstream="chat", units=10)
    assert small.state is S.ASSIGNED and small.agent == "a"


TRANSFERRED_YAML = """
capacity_profiles: {task: {limit: 1}}
workstreams:
  email:
    kind: record
    capacity: {units: 10}
    offer: {auto_accept: true}
    fallback_queue: inbox
  tasks:
    kind: record
    mode: pick
    capacity: {units: 10, profiles: [task]}
    allowed_presences: [available]
    fallback_queue: tasks_q
queues:
  inbox: {kind: record}
  tasks_q: {kind: record, members: [a]}
agents:
  a: {profiles: [task]}
"""


def test_r16_a_transferred_item_follows_its_own_workstreams_allowed_presences(rig: Any) -> None:
    """R16: the item's own workstream allows ``busy``; the queue's feeding workstream does not."""
    r = rig(TRANSFERRED_YAML, t0=5.0)
    r.engine.set_presence("a", P.BUSY)
    item = r.engine.submit(external_id="e1", workstream="email")
    r.engine.transfer(item.id, queue="tasks_q")
    assert item.state is S.ASSIGNED and item.agent == "a"


def test_r16_a_transferred_item_needs_only_its_own_capacity_profiles(rig: Any) -> None:
    """R16: an item carrying no profile is not held back by a profile only the queue's feeders use."""
    r = rig(TRANSFERRED_YAML.replace("a: {profiles: [task]}", "a: {}"), t0=5.0)
    item = r.engine.submit(external_id="e1", workstream="email")
    r.engine.transfer(item.id, queue="tasks_q")
    assert item.state is S.ASSIGNED and item.agent == "a"


def test_r42_applying_a_configuration_keeps_a_waiting_items_ttl(rig: Any) -> None:
    """R42, R39: items keep their state across a configuration change, their TTL included."""
    r = rig(
        """
        workstreams: {chat: {kind: messaging, ttl_s: 60, fallback_queue: q}}
        queues: {q: {kind: messaging}}
        """,
        t0=5.0,
    )
    item = r.engine.submit(external_id="c1", workstream="chat")
    r.at(10.0)
    r.engine.apply_config(r.engine.config)
    r.at(70.0)
    assert item.state is S.CLOSED and item.close_reason is CloseReason.EXPIRED


def test_longest_wait_counts_an_item_queued_at_time_zero(rig: Any) -> None:
    """queue_status: an item queued at engine time 0.0 has waited 50 s at t=50 (0.0 is a time)."""
    r = rig("""
        workstreams: {chat: {kind: messaging, fallback_queue: q}}
        queues: {q: {kind: messaging}}
        """)
    r.engine.submit(external_id="c1", workstream="chat")
    r.at(50.0)
    assert r.engine.queue_status("q")["longest_wait_s"] == 50.0


def test_r20_relaxation_counts_from_a_first_queueing_at_time_zero(rig: Any) -> None:
    """R20: the step due 30 s after a first queueing at t=0.0 applies at 30 s even if the item moved."""
    r = rig("""
        skills: {billing: {}}
        workstreams:
          chat:
            kind: messaging
            fallback_queue: q
            route_to_queue:
              - when: "true"
                queue: q
                steps: [{skills: [{name: billing, level: 3}], after_s: 0}, {skills: [], after_s: 30}]
        queues: {q: {kind: messaging}, r: {kind: messaging}}
        """)
    item = r.engine.submit(external_id="c1", workstream="chat")
    r.at(20.0)
    r.engine.transfer(item.id, queue="r")
    r.at(35.0)
    assert item.skills == ()


AFFINITY_YAML = """
workstreams:
  chat:
    kind: messaging
    capacity: {units: 10}
    affinity: {enabled: true, grace_s: 30}
    offer: {max_declines_per_agent: 1}
    fallback_queue: q
queues:
  q: {kind: messaging, members: [x, m]}
agents:
  x: {}
  outsider: {}
  m: {default_presence: away}
"""


def test_r29_a_returning_conversation_whose_last_agent_is_not_a_member_does_not_wait_forever(
    rig: Any,
) -> None:
    """R29: the last agent (force-assigned from outside the queue) cannot take it from the queue;
    once the grace period has passed the conversation must have gone to someone."""
    r = rig(AFFINITY_YAML, t0=5.0)
    item = r.engine.submit(external_id="c1", workstream="chat")
    r.engine.force_assign(item.id, agent="outsider")
    r.engine.park(item.id)
    r.engine.set_presence("x", P.AWAY)
    r.engine.set_presence("m", P.AVAILABLE)
    r.at(10.0)
    r.engine.resume(item.id)
    r.at(100.0)
    assert item.state is not S.QUEUED


def test_r25_a_returning_conversation_declined_by_its_last_agent_goes_to_another(
    rig: Any,
) -> None:
    """R25, R29: the last agent declined the returning conversation (max 1 decline): it is never
    offered to that agent again, so another free member gets it."""
    r = rig(AFFINITY_YAML, t0=5.0)
    item = r.engine.submit(external_id="c1", workstream="chat")
    r.engine.accept(r.last_offer(item.id).offer or "", agent="x")
    r.engine.park(item.id)
    r.engine.set_presence("m", P.AVAILABLE)
    r.at(10.0)
    r.engine.resume(item.id)
    offer = r.last_offer(item.id)
    assert offer.agent == "x"
    r.engine.decline(offer.offer or "", agent="x")
    r.at(100.0)
    assert item.state is S.OFFERED and r.last_offer(item.id).agent == "m"


def test_r42_a_small_waiting_item_still_reaches_a_free_agent_after_a_configuration_change(
    rig: Any,
) -> None:
    """R16, R42: 20 free units take a waiting 10-unit item, configuration applied or not."""
    r = rig(
        """
        workstreams:
          chat: {kind: messaging, capacity: {units: 30}, offer: {auto_accept: true}, fallback_queue: q}
        queues:
          q: {kind: messaging, members: [a]}
        agents:
          a: {capacity_units: 50}
        """,
        t0=5.0,
    )
    r.engine.submit(external_id="big", workstream="chat")
    r.engine.set_presence("a", P.AWAY)
    small = r.engine.submit(external_id="small", workstream="chat", units=10)
    r.engine.apply_config(r.engine.config)
    r.engine.set_presence("a", P.AVAILABLE)
    assert small.state is S.ASSIGNED and r.engine.agent("a").free_units == 10


def test_r42_a_transferred_waiting_item_keeps_its_own_presences_after_a_configuration_change(
    rig: Any,
) -> None:
    """R16, R31, R42: the item's own workstream allows ``busy``, before and after a new config."""
    r = rig(
        TRANSFERRED_YAML.replace("a: {profiles: [task]}", "a: {default_presence: away}"), t0=5.0
    )
    item = r.engine.submit(external_id="e1", workstream="email")
    r.engine.transfer(item.id, queue="tasks_q")
    r.engine.apply_config(r.engine.config)
    r.engine.set_presence("a", P.BUSY)
    assert item.state is S.ASSIGNED and item.agent == "a"


AFFINITY_OVERFLOW_YAML = """
workstreams:
  chat:
    kind: messaging
    capacity: {units: 10}
    affinity: {enabled: true, grace_s: 30}
    fallback_queue: q
queues:
  q:
    kind: messaging
    members: [x]
    overflow: [{when: {waited_s: 20}, action: {transfer: q2}}]
  q2: {kind: messaging, members: [m]}
agents:
  x: {}
  m: {default_presence: away}
"""


def test_r29_affinity_ends_when_the_item_moves_to_a_queue_its_last_agent_is_not_in(
    rig: Any,
) -> None:
    """R29, R13: a returning conversation waits in q for its last agent x (busy); when waited_s
    moves it to q2, where x is not a member, it must go to q2's free member, not wait for x."""
    r = rig(AFFINITY_OVERFLOW_YAML, t0=5.0)
    item = r.engine.submit(external_id="c1", workstream="chat")
    r.engine.accept(r.last_offer(item.id).offer or "", agent="x")
    r.engine.park(item.id)
    r.engine.set_presence("x", P.BUSY_DND)
    r.engine.set_presence("m", P.AVAILABLE)
    r.at(10.0)
    r.engine.resume(item.id)
    assert item.state is S.QUEUED and item.affinity_agent == "x"
    r.at(31.0)
    assert item.queue == "q2"
    assert item.affinity_agent is None
    assert item.state is S.OFFERED and r.last_offer(item.id).agent == "m"
