"""Installing a configuration: queues, agents and indexes rebuilt, items kept in their state (R41, R42)."""

from __future__ import annotations

from unirouter import errors
from unirouter.config import model
from unirouter.engine import affinity, capacity, core, intake, offers, plans, presence, queueing
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, ItemState, WorkItem, move

__all__ = [
    "build_queue",
    "check_live_workstreams",
    "configure_agent",
    "derive_queue_needs",
    "install",
    "install_agents",
    "rearm_post_queue",
    "reindex_items",
    "retire_agent",
]

P = model.BasePresence


def install(s: Core, config: model.Config) -> None:
    """Swap in a validated configuration: items keep their state, indexes are rebuilt (R42).

    Refused as a whole (``ConfigError``, nothing changed) when it drops a workstream that still
    has open items, since nothing could route them.
    """
    check_live_workstreams(s, config)
    for agent_id in [a for a in s.agents if a not in config.agents]:
        retire_agent(s, s.agents[agent_id])
    s.config = config
    s.version += 1
    compiled = plans.compile_config(config)
    plans.carry_splits(s.workstreams, compiled.workstreams)
    s.calendars, s.workstreams = compiled.calendars, compiled.workstreams
    s.queues = {n: build_queue(s, n, q) for n, q in config.queues.items()}
    s.priority_plans = compiled.priority
    derive_queue_needs(s)
    d = s.dispatch
    d.queues, d.workstreams = s.queues, s.workstreams
    d.custom = compiled.custom
    core.emit(s, ET.CONFIG_APPLIED, version=s.version)
    d.tracing = s.tracing
    install_agents(s, config)
    reindex_items(s)
    for agent in s.agents.values():
        presence.wake(s, agent)


def build_queue(s: Core, name: str, cfg: model.Queue) -> QueueRuntime:
    calendar = s.calendars.get(cfg.operating_hours) if cfg.operating_hours else None
    queue = QueueRuntime(name, cfg, calendar)
    old = s.queues.get(name)
    if old is not None:
        queue.aht_ema = old.aht_ema
    return queue


def derive_queue_needs(s: Core) -> None:
    """Per queue: which presences and how many units the workstreams feeding it need (R16)."""
    feeds: dict[str, list[plans.WorkstreamPlan]] = {name: [] for name in s.queues}
    for ws in s.workstreams.values():
        for name in intake.queues_named(ws.cfg):
            if name in feeds:
                feeds[name].append(ws)
    for name, queue in s.queues.items():
        sources = feeds[name] or list(s.workstreams.values())
        kinds = [w for w in sources if w.cfg.kind is queue.cfg.kind] or sources
        if not kinds:
            continue
        queue.allowed = frozenset().union(*(w.allowed for w in kinds))
        queue.min_units = min(_smallest_units(w.cfg) for w in kinds)
        common = set.intersection(*(set(w.cfg.capacity.profiles) for w in kinds))
        queue.profiles = tuple(sorted(common))


def check_live_workstreams(s: Core, config: model.Config) -> None:
    open_by_ws: dict[str, int] = {}
    for item in s.items.values():
        if item.state is not ItemState.CLOSED and item.workstream not in config.workstreams:
            open_by_ws[item.workstream] = open_by_ws.get(item.workstream, 0) + 1
    if open_by_ws:
        raise errors.ConfigError(
            [
                errors.ConfigIssue(
                    path=f"workstreams.{name}",
                    message=f"{count} open item(s) still belong to this workstream; "
                    "keep it until they close",
                )
                for name, count in sorted(open_by_ws.items())
            ]
        )


def install_agents(s: Core, config: model.Config) -> None:
    for agent_id, cfg in config.agents.items():
        configure_agent(s, agent_id, cfg)
    for name, queue in s.queues.items():
        for agent_id in queue.cfg.members:
            agent = s.agents[agent_id]
            joined = s.joined.setdefault((agent_id, name), s.now)
            agent.queues[name] = joined
            queue.members[agent_id] = joined
            queue.present += agent.presence in queue.allowed
    for agent in s.agents.values():
        agent.levels = _levels(agent, s.queues)
        presence.refresh(s, agent)


def configure_agent(s: Core, agent_id: str, cfg: model.AgentDef) -> None:
    agent = s.agents.get(agent_id) or s.retired.pop(agent_id, None)
    fresh = agent is None
    if agent is not None:
        s.agents[agent_id] = agent
    else:
        start = P.OFFLINE if s.await_connections else cfg.default_presence
        agent = s.agents[agent_id] = AgentState(id=agent_id, presence=start)
    agent.name, agent.attributes = cfg.name, dict(cfg.attributes)
    agent.skills = dict(cfg.skills)
    agent.capacity_units = cfg.capacity_units
    agent.default_presence = cfg.default_presence
    agent.profile_limits = capacity.profile_limits(s, cfg)
    agent.signature = s.sigs.intern(agent.skills, agent.profile_limits)
    agent.calendar = cfg.calendar
    agent.queues, agent.ready, agent.unready, agent.staffed = {}, set(), {}, {}
    presence.update_in_hours(s, agent)
    capacity.schedule_profile_reset(s, agent)
    if fresh:
        agent.connected = not s.await_connections
        agent.manual = agent.connected and agent.presence in presence.MANUAL_DEFAULTS
        agent.offline_since = s.now if agent.presence is P.OFFLINE else None
        core.emit(s, ET.PRESENCE_CHANGED, agent=agent_id, presence=agent.presence, label=None,
            manual=False,
        )  # fmt: skip


def retire_agent(s: Core, agent: AgentState) -> None:
    """An agent removed from the configuration keeps its assigned work but joins no queue; its
    open offers are withdrawn and their items wait for the new indexes (R42)."""
    agent.queues, agent.ready, agent.unready, agent.levels = {}, set(), {}, []
    agent.staffed = {}
    agent.version += 1
    for offer_id in sorted(agent.offers):
        offers.withdraw(s, s.offers[offer_id], requeue=False)
    del s.agents[agent.id]
    s.retired[agent.id] = agent


def reindex_items(s: Core) -> None:
    """Put every waiting item into the new indexes; items of removed queues go to the fallback."""
    for item in s.items.values():
        if item.state not in (ItemState.QUEUED, ItemState.OFFERED):
            continue
        name = item.queue or ""
        if name not in s.queues:
            name = s.workstreams[item.workstream].cfg.fallback_queue
            core.trace(s, item, "config", moved_to=name, reason="queue removed")
        queue = s.queues[name]
        if item.affinity_agent is not None and not affinity.affinity_holds(s, item, queue):
            core.cancel_item_timers(s, item, ["affinity"])
            item.affinity_agent = None
            core.trace(s, item, "affinity", note="last agent cannot take it here; routed normally")
        move(
            item, item.state, queue
        )  # counted in the new queue objects (and moved to the fallback)
        queueing.admit(s, queue, item)
        if item.state is ItemState.QUEUED:
            item.slot = None
            queueing.index_item(s, item, queue)
        rearm_post_queue(s, item, queue)


def rearm_post_queue(s: Core, item: WorkItem, queue: QueueRuntime) -> None:
    """R13 under a new configuration: the queue's current ``waited_s`` rules, timed from entry."""
    core.cancel_item_timers(s, item, [n for n in item.timers if n.startswith("overflow:")])
    entered = s.now if item.queued_at is None else item.queued_at
    for index, seconds in queue.post_rules:
        due = max(entered + seconds, s.now)
        core.set_item_timer(s, item, f"overflow:{index}", due, index)


def _smallest_units(ws: model.Workstream) -> int:
    """The fewest units an item of the workstream can carry, classification included (R16)."""
    units = [r.units for rs in ws.classification for r in rs.rules if r.units is not None]
    return min([ws.capacity.units, *units])


def _levels(agent: AgentState, queues: dict[str, QueueRuntime]) -> list[list[str]]:
    """The agent's queues grouped by queue priority, smallest number first (R10)."""
    by_priority: dict[int, list[str]] = {}
    for name in sorted(agent.queues):
        by_priority.setdefault(queues[name].priority, []).append(name)
    return [by_priority[p] for p in sorted(by_priority)]
