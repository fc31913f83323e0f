"""The command bracket: :func:`begin` brings the engine to the clock's time, firing due timers in
order; :func:`settle` gives every agent that gained room its best waiting items (R21, R17)."""

from __future__ import annotations

from unirouter.config import model
from unirouter.engine import core, deadlines, dispatch, offers, queueing
from unirouter.engine.core import Core
from unirouter.engine.queues import QueueRuntime
from unirouter.engine.state import AgentState, ItemState, WorkItem

__all__ = [
    "begin",
    "fill",
    "settle",
    "settle_together",
    "trace_taken",
]


#: R43 trace records' field names (core.trace_at).
_ASSIGN_KEYS = ("trigger", "queue")


def begin(s: Core) -> None:
    """Start a command: bring the engine to the clock's time, firing due timers in order."""
    now = float(s.clock.now())
    while True:
        due = s.timers.next_due()
        if due is None or due > now:
            break
        # Every timer due at one instant fires before anyone takes work, so agents freed
        # together compete by the queue's method (R17) rather than by timer order.
        s.now = s.dispatch.now = max(s.now, due)
        while (entry := s.timers.pop_due(due)) is not None:
            deadlines.fire(s, entry[2], entry[3], entry[4])
        settle(s)
    s.now = s.dispatch.now = max(s.now, now)


def settle(s: Core) -> None:
    """R21: agents that gained room take the best waiting items.

    One agent alone takes its best item directly. Several agents freed together (a timer instant,
    a configuration) let each waiting item they could take choose among all of them by its
    queue's method, in queue order, so none wins merely by being first in line (R17).
    """
    while s.woken:
        if len(s.woken) == 1:
            agent_id = next(iter(s.woken))
            del s.woken[agent_id]
            agent = s.agents.get(agent_id)
            if agent is not None:
                fill(s, agent)
        elif not settle_together(s):
            return


def settle_together(s: Core) -> bool:
    """Item-side decisions for the items the woken agents could take; False when none could."""
    agents = [a for a in map(s.agents.get, s.woken) if a is not None]
    s.woken.clear()
    wanted: dict[str, WorkItem] = {}
    for agent in agents:
        found = s.dispatch.find_item(agent, agent.levels) if agent.ready else None
        if found is not None:
            wanted[found[0].id] = found[0]
    if not wanted:
        return False
    for item in sorted(wanted.values(), key=lambda i: (i.order_key, i.id)):
        queueing.try_assign(s, item)
    if all(item.state is ItemState.QUEUED for item in wanted.values()):
        for agent in agents:  # the item side saw no taker: let each agent decide alone
            fill(s, agent)
        return False
    for agent in agents:
        if agent.ready:
            s.woken[agent.id] = None
    return True


def fill(s: Core, agent: AgentState) -> None:
    while agent.ready:
        found = s.dispatch.find_item(agent, agent.levels)
        if found is None:
            return
        item, queue = found
        if s.tracing:
            trace_taken(s, item, agent, s.queues[queue])
        offers.offer_or_assign(s, item, agent)
        s.woken.pop(agent.id, None)


def trace_taken(s: Core, item: WorkItem, agent: AgentState, queue: QueueRuntime) -> None:
    """R43: an agent that gained room took this item (the agent side of a decision)."""
    if not s.tracing:
        return
    # The same fields as an item-side decision with this agent its one candidate, scored with
    # no skill match (a custom method's key as it is), rendered when the trace is read.
    decision = dispatch.Decision()
    decision.winner = agent.id
    decision.method = queue.method
    decision.match = model.SkillMatch.NONE
    decision.candidates.append((s.dispatch.method_key(agent, queue), agent.id))
    core.trace_at(s, item, "assign", _ASSIGN_KEYS, ("agent", queue.name), decision)
