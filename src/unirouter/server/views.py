"""Engine state as API bodies: plain JSON dicts built from the engine's read side.

Views are built in the same loop step as the command or read they answer, before anything later can
change the state they show (:meth:`EngineHost.command`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from unirouter import calendars, errors
from unirouter.config import model
from unirouter.engine import AgentState, Engine, ItemState, OfferStatus, WorkItem
from unirouter.server.projection import Projection

__all__ = [
    "agent_view",
    "day_start",
    "item_view",
    "offer_summary",
    "queue_view",
    "today_view",
]


def item_view(
    engine: Engine, projection: Projection, item: WorkItem, *, trace: bool = True
) -> dict[str, Any]:
    """A work item (SPEC §6.3 ``GET /v1/work-items/{id}``)."""
    body: dict[str, Any] = {
        "id": item.id,
        "external_id": item.external_id,
        "workstream": item.workstream,
        "channel": item.channel,
        "kind": item.kind.value,
        "state": item.state.value,
        "close_reason": None if item.close_reason is None else item.close_reason.value,
        "queue": item.queue,
        "agent": item.agent,
        "offer": _open_offer(engine, item),
        "priority": item.priority,
        "attributes": item.attributes,
        "customer": item.customer,
        "skills": [s.model_dump(mode="json") for s in item.skills],
        "units": item.units,
        "profiles": list(item.profiles),
        "available_at": item.available_at,
        "callback_at": item.callback_at,
        "phone": item.phone,
        "due_at": item.due_at,
        "preferred_agents": list(item.preferred_agents),
        "config_version": item.config_version,
        "times": projection.times(item.id),
        "wrap_up_code": projection.wrap_up_code(item.id),
    }
    body["wrap_up_ends_at"] = _wrap_up_ends_at(engine, item, body["times"])
    if trace:
        body["trace"] = [_finite(entry) for entry in item.trace]
    return body


def _wrap_up_ends_at(engine: Engine, item: WorkItem, times: dict[str, float]) -> float | None:
    """R33: when a wrap-up that blocks N seconds releases the agent's capacity (None when it is
    not in wrap-up, or its wrap-up blocks until close or not at all)."""
    if item.state is not ItemState.WRAP_UP or "wrap_up" not in item.timers:
        return None
    workstream = engine.config.workstreams.get(item.workstream)
    block = None if workstream is None else workstream.wrap_up.block
    if isinstance(block, str) or block is None or "wrap_up_at" not in times:
        return None
    return times["wrap_up_at"] + float(block)


def _open_offer(engine: Engine, item: WorkItem) -> dict[str, Any] | None:
    if item.offer is None:
        return None
    offer = engine.offer(item.offer)
    if offer.status is not OfferStatus.OPEN:
        return None
    return {"id": offer.id, "agent": offer.agent, "made_at": offer.made_at,
            "expires_at": offer.expires_at}  # fmt: skip


def agent_view(
    engine: Engine, agent: AgentState, projection: Projection | None = None
) -> dict[str, Any]:
    """An agent (SPEC §6.3 ``GET /v1/agents/{id}``); with ``projection``, ``presence_since`` says
    when it entered its current presence."""
    offers = []
    for offer_id in sorted(agent.offers):
        offer = engine.offer(offer_id)
        offers.append({"id": offer.id, "item": offer.item, "expires_at": offer.expires_at,
                       "summary": offer_summary(engine, offer.item)})  # fmt: skip
    profiles = {
        name: _profile_view(engine.config, agent, name) for name in sorted(agent.profile_limits)
    }
    return {
        "id": agent.id,
        "name": agent.name,
        "presence": agent.presence.value,
        "label": agent.label,
        "manual": agent.manual,
        "presence_since": None if projection is None else projection.presence_since(agent.id),
        "connected": agent.connected,
        "capacity_units": agent.capacity_units,
        "used_units": agent.used_units,
        "free_units": agent.free_units,
        "profiles": profiles,
        "queues": sorted(agent.queues),
        "skills": dict(agent.skills),
        "attributes": agent.attributes,
        "active": sorted(agent.active),
        "offers": offers,
    }


def _profile_view(config: model.Config, agent: AgentState, name: str) -> dict[str, Any]:
    """A capacity profile of an agent: its limit (the agent's override or the profile's), whether
    reaching it stops automatic assignment (``blocking``), and the items using it. The engine's
    internal mark of a non-blocking profile never shows."""
    profile = config.capacity_profiles.get(name)
    agent_def = config.agents.get(agent.id)
    override = None if agent_def is None else agent_def.profiles.get(name)
    limit = override if override is not None else (None if profile is None else profile.limit)
    blocking = agent.profile_limits[name] >= 0
    if blocking:
        limit = agent.profile_limits[name]
    return {"limit": limit, "blocking": blocking, "used": agent.profile_used.get(name, 0)}


#: At most this many attributes (of scalar values, strings cut to SUMMARY_TEXT) in a summary.
SUMMARY_ATTRIBUTES = 10
SUMMARY_TEXT = 200


def offer_summary(engine: Engine, item_id: str) -> dict[str, Any] | None:
    """What an agent needs to decide on an offer (issue 16 item 5): the item's workstream,
    channel, queue, priority, required skills, its first scalar attributes and its customer.
    None once the engine has forgotten the item."""
    try:
        item = engine.item(item_id)
    except errors.NotFound:
        return None
    return {
        "item": item.id,
        "external_id": item.external_id,
        "workstream": item.workstream,
        "channel": item.channel,
        "kind": item.kind.value,
        "queue": item.queue,
        "priority": item.priority,
        "skills": [s.name for s in item.skills],
        "attributes": _brief(item.attributes),
        "customer": _customer_brief(item.customer),
        "created_at": item.created_at,
    }


def _customer_brief(customer: dict[str, Any]) -> dict[str, Any]:
    """The customer's id and first scalar fields, and the same of its ``attributes``."""
    out = _brief(customer)
    nested = customer.get("attributes")
    if isinstance(nested, dict):
        out["attributes"] = _brief(nested)
    return out


def _brief(values: dict[str, Any]) -> dict[str, Any]:
    """The first scalar entries of a JSON object, long strings cut short (a summary, not a copy)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if len(out) == SUMMARY_ATTRIBUTES:
            break
        if isinstance(value, str):
            out[key] = value[:SUMMARY_TEXT]
        elif value is None or isinstance(value, bool | int | float):
            out[key] = value
    return out


def queue_view(
    engine: Engine, name: str, *, at: float | None = None, today: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A queue's live state (SPEC §6.3 ``GET /v1/queues/{name}``) read at ``at``: the longest wait
    counts to then over queued and offered items, ``open`` follows its operating hours (R14);
    ``today`` is its service level since the start of its day. An infinite EWT is null."""
    status = _finite(engine.queue_status(name, at=at))
    cfg = engine.config.queues[name]
    return {
        **status,
        "kind": cfg.kind.value,
        "priority": cfg.priority,
        "operating_hours": cfg.operating_hours,
        "service_level_s": cfg.service_level_s,
        "today": today,
    }


def day_start(config: model.Config, queue: str, t: float) -> float:
    """When the day of ``t`` began for ``queue``: midnight in the time zone of its operating hours
    (R14), or UTC for a queue open around the clock."""
    calendar = config.queues[queue].operating_hours
    tz = calendars.zone(config.calendars[calendar].tz) if calendar is not None else UTC
    local = datetime.fromtimestamp(t, tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def today_view(start: float, kpis: dict[str, Any] | None) -> dict[str, Any]:
    """A queue's figures since ``start`` (SPEC §8; items count on the day they arrived)."""
    row = kpis or {}
    return {
        "from": start,
        "arrived": row.get("arrived", 0),
        "answered": row.get("answered", 0),
        "abandoned": row.get("abandoned", 0),
        "service_level": row.get("service_level"),
    }


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: a float that is not finite becomes null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
