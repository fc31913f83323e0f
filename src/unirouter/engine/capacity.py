"""Capacity held and given back, and capacity profiles with their resets (R22, R31, R33, R34, R36)."""

from __future__ import annotations

from datetime import timedelta

from unirouter.config import model
from unirouter.engine import core, presence
from unirouter.engine.core import Core
from unirouter.engine.events import EventType as ET
from unirouter.engine.state import AgentState, WorkItem

__all__ = [
    "hold",
    "profile_limits",
    "profiles_full",
    "release",
    "reset_profiles",
    "schedule_profile_reset",
]


def hold(s: Core, item: WorkItem, agent: AgentState) -> None:
    agent.used_units += item.units
    used = agent.profile_used
    for name in item.profiles:
        used[name] = used.get(name, 0) + 1
    item.holder = agent.id


def release(s: Core, item: WorkItem, agent: AgentState, *, record: bool) -> None:
    """Give back what the item holds; ``record`` marks a capacity release (R17 least_active, R34)."""
    if item.holder != agent.id:
        return
    item.holder = None
    agent.used_units -= item.units
    resets = s.config.capacity_profiles
    for name in item.profiles:
        profile = resets.get(name)
        if profile is None or profile.reset is model.Reset.IMMEDIATE or not record:
            agent.profile_used[name] = agent.profile_used.get(name, 0) - 1
    if record:
        agent.last_release = s.now
        core.emit(s, ET.CAPACITY_RELEASED, item=item.id, agent=agent.id, units=item.units)


def profiles_full(s: Core, agent: AgentState) -> bool:
    if not agent.profile_limits:
        return False
    limits = [(n, lim) for n, lim in agent.profile_limits.items() if lim >= 0]
    return bool(limits) and all(agent.profile_used.get(n, 0) >= lim for n, lim in limits)


def schedule_profile_reset(s: Core, agent: AgentState) -> None:
    """R36: end_of_day profiles reset at the end of the agent's day (UTC midnight without calendar)."""
    if not any(p.reset is model.Reset.END_OF_DAY for p in s.config.capacity_profiles.values()):
        return
    wall = s.epoch + timedelta(seconds=s.now)
    calendar = s.calendars.get(agent.calendar or "")
    if calendar is not None:
        end = calendar.end_of_day(wall)
    else:
        end = (wall + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    core.set_agent_timer(s, agent, "profile_reset", s.now + max((end - wall).total_seconds(), 1.0))


def reset_profiles(s: Core, agent: AgentState) -> None:
    held: dict[str, int] = {}
    holding = [*agent.active, *(s.offers[o].item for o in agent.offers)]
    for item_id in holding:
        for name in s.items[item_id].profiles:
            held[name] = held.get(name, 0) + 1
    for name, profile in s.config.capacity_profiles.items():
        if profile.reset is model.Reset.END_OF_DAY:
            agent.profile_used[name] = held.get(name, 0)
    schedule_profile_reset(s, agent)
    presence.changed(s, agent)


def profile_limits(s: Core, cfg: model.AgentDef) -> dict[str, int]:
    """Limit per profile the agent holds; -1 marks a non-blocking profile (never refuses)."""
    wanted = cfg.profiles if isinstance(cfg.profiles, dict) else dict.fromkeys(cfg.profiles)
    limits: dict[str, int] = {}
    for name, override in wanted.items():
        profile = s.config.capacity_profiles[name]
        limits[name] = (
            (override if override is not None else profile.limit) if profile.blocking else -1
        )
    return limits
