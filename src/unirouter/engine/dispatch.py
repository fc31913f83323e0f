"""Who takes what: the assignment decisions of R10, R11 and R16–R19, R25, R29, R30.

Two questions, each answered from the queue indexes without scanning every agent or every item:

* :meth:`Dispatcher.find_agent` — an item became assignable: which agent gets it?
* :meth:`Dispatcher.find_item` — an agent gained room: which waiting item does it get?

At rest no waiting auto-assignable item has an eligible agent with room (the engine runs one of the two
questions after every event that could change that), which is why an arriving item only needs the best
free agent and a freed agent only needs its best item.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from unirouter import expressions
from unirouter.config import model
from unirouter.engine import matching, plans
from unirouter.engine.queues import Entry, QueueRuntime, ReqIndex
from unirouter.engine.state import AgentState, ItemState, WorkItem

__all__ = ["Decision", "Dispatcher"]

Candidate = tuple[tuple[Any, ...], str]

#: R25 pass-over levels, tried in this order while no agent is found. ``PASS_RETURN`` is only
#: tried from the agent's side: the item an agent has just declined comes back to it when it can
#: take nothing else.
PASS_ALL, PASS_LAST, PASS_NONE, PASS_RETURN = 2, 1, 0, -1


#: How many members of a queue a traced decision looks at to name agents excluded by presence.
PRESENCE_NAME_SCAN = 200


class Decision:
    """The outcome of one assignment decision and what R43's trace says about it."""

    __slots__ = ("candidates", "excluded", "match", "method", "recheck_at", "winner")

    def __init__(self) -> None:
        self.winner: str | None = None
        #: How the candidates were ordered, so the trace can name the parts of their scores.
        self.method: model.Method | None = None
        self.match = model.SkillMatch.EXACT
        #: When a custom rule that reads the time could next hold, if none holds now (R19, R21).
        self.recheck_at: float | None = None
        self.candidates: list[Candidate] = []
        self.excluded: dict[str, list[Any]] = {}

    def exclude(self, reason: str, count: int, names: list[Any] | None = None) -> None:
        """Count ``count`` agents excluded for ``reason`` and remember up to 10 names (an id, or
        ``{agent, missing}`` for a skill exclusion)."""
        if count <= 0:
            return
        slot = self.excluded.setdefault(reason, [0, []])
        slot[0] += count
        if names:
            room = 10 - len(slot[1])
            slot[1].extend(names[:room])

    def as_trace(self) -> dict[str, Any]:
        """R43: counts per exclusion reason (≤ 10 names each), the top 5 candidates with scores, winner."""
        top = sorted(self.candidates)[:5] if len(self.candidates) > 1 else self.candidates
        method = self.method
        return {
            "winner": self.winner,
            "method": None if method is None else method.value,
            "candidates": [{"agent": a, "score": self._score(k)} for k, a in top],
            "excluded": {r: {"count": c, "agents": n} for r, (c, n) in self.excluded.items()},
        }

    def _score(self, key: tuple[Any, ...]) -> Any:
        """Named parts of a built-in method's key; a custom rule's key as it is (R19)."""
        if self.method is None or self.method is model.Method.CUSTOM:
            return key
        return matching.score_parts(key, self.method, self.match)


class Dispatcher:
    """Assignment decisions over the engine's live records (shared, read-mostly)."""

    def __init__(
        self,
        *,
        agents: dict[str, AgentState],
        items: dict[str, WorkItem],
        sigs: matching.SignatureTable,
    ) -> None:
        self.agents = agents
        self.items = items
        self.sigs = sigs
        self.queues: dict[str, QueueRuntime] = {}
        self.workstreams: dict[str, plans.WorkstreamPlan] = {}
        self.custom: dict[str, list[plans.CustomRulePlan]] = {}
        self.scope = expressions.Scope()
        self.now = 0.0
        self.tracing = True

    # -- validity and fit ---------------------------------------------------------------------------

    def agent_entry_valid(self, entry: Entry) -> bool:
        agent = self.agents.get(entry[2])
        return agent is not None and agent.version == entry[1]

    def item_entry_valid(self, entry: Entry) -> bool:
        item = self.items.get(entry[2])
        return item is not None and item.version == entry[1] and item.state is ItemState.QUEUED

    def room_for(self, agent: AgentState, units: int, profiles: tuple[str, ...]) -> str | None:
        """Why ``agent`` has no room for ``units`` and ``profiles`` (R16), or None when it has."""
        if agent.free_units < units:
            return "capacity"
        for name in profiles:
            limit = agent.profile_limits.get(name)
            if limit is None:
                return "profile"
            if limit >= 0 and agent.profile_used.get(name, 0) >= limit:
                return "profile"
        return None

    def agent_may_take(self, item: WorkItem, agent: AgentState, *, pass_over: int) -> str | None:
        """Why ``agent`` may not take ``item`` beyond pool readiness, or None (R16, R25, R29, R30).

        ``pass_over`` (R25): ``ALL`` passes over every agent who declined the item, ``LAST`` only the
        one who declined last, ``NONE`` nobody below ``max_declines_per_agent``.
        """
        ws = self.workstreams[item.workstream]
        if agent.presence not in ws.allowed:
            return "presence"
        reason = self.room_for(agent, item.units, item.profiles)
        if reason is not None:
            return reason
        if item.declines and self._declined(item, agent.id, pass_over):
            return "declined"
        if item.affinity_agent is not None and item.affinity_agent != agent.id:
            return "affinity"
        return None

    def _declined(self, item: WorkItem, agent_id: str, pass_over: int) -> bool:
        """R25: passed over at this level, or past ``max_declines_per_agent``.

        At the last level the agent that has just declined the item is still passed over: the item
        comes back to it from its own side (:meth:`find_item`), once the items behind have had their
        turn, so a lone decliner is not offered the same item again at once.
        """
        declined = item.declines.get(agent_id)
        if not declined:
            return False
        limit = self.workstreams[item.workstream].cfg.offer.max_declines_per_agent
        return (
            declined >= limit
            or pass_over == PASS_ALL
            or (pass_over == PASS_LAST and item.last_decliner == agent_id)
            or (pass_over != PASS_RETURN and self._just_passed(item, agent_id))
        )

    def _just_passed(self, item: WorkItem, agent_id: str) -> bool:
        """The last decliner, offered nothing since its decline (R25)."""
        agent = self.agents.get(agent_id)
        return item.last_decliner == agent_id and agent is not None and agent.passed == item.id

    def _restricted_to(self, item: WorkItem) -> tuple[str, ...] | None:
        """Agents an item is restricted to: its affinity agent (R29) or preferred agents (R30)."""
        if item.affinity_agent is not None:
            return (item.affinity_agent,)
        if item.preferred_agents:
            return item.preferred_agents
        return None

    # -- item side ------------------------------------------------------------------------------------

    def find_agent(self, item: WorkItem, queue: QueueRuntime) -> Decision:
        """The agent ``item`` goes to now, if any (R16–R19, R25, R29, R30)."""
        decision = Decision()
        restricted = self._restricted_to(item)
        if restricted is not None:
            self._best_of(item, queue, restricted, decision)
            wait = item.affinity_agent is not None or (
                self.workstreams[item.workstream].cfg.preferred.fallback
                is model.PreferredFallback.WAIT
            )
            if decision.winner is not None or wait:
                return decision
            decision = Decision()
        for pass_over in (PASS_ALL, PASS_LAST, PASS_NONE):
            if queue.method is model.Method.CUSTOM:
                self._custom(item, queue, decision, pass_over=pass_over)
            else:
                self._from_pools(item, queue, decision, pass_over=pass_over)
            if decision.winner is not None or not item.declines:
                break
            decision = Decision()
        decision.method = queue.method
        decision.match = self.workstreams[item.workstream].cfg.skill_match
        return decision

    def _from_pools(
        self, item: WorkItem, queue: QueueRuntime, decision: Decision, *, pass_over: int
    ) -> None:
        """Best agent among the ready members qualifying for the item's requirement (R16–R18).

        The requirement's index holds them in (rank, method key) order, so the first live entry
        that may take the item is the winner; its live counters give R43's exclusion counts.
        """
        ws = self.workstreams[item.workstream]
        req = item.group
        assert isinstance(req, matching.Requirement)
        refused: dict[str, str] = {}
        index = queue.requirement(req, ws.cfg.skill_match)
        if index.live > 0:
            entries: list[Entry] | None = index.entries
            agents = self.agents
            tracing = self.tracing
            plain = not tracing and not item.declines and item.affinity_agent is None
            # Stale heads are dropped; untraced, the live head is checked inline (the common case).
            while entries:
                key, version, agent_id = entries[0]
                agent = agents.get(agent_id)
                if agent is None or agent.version != version:
                    heapq.heappop(entries)
                    continue
                if (
                    plain
                    and agent.presence in ws.allowed
                    and agent.capacity_units - agent.used_units >= req.units
                    and (not req.profiles or self.room_for(agent, 0, req.profiles) is None)
                ):
                    decision.candidates.append((key, agent_id))
                    entries = None
                break
            if entries and tracing:
                decision.candidates = self._top_five(index, item, refused, pass_over)
            elif entries:
                entry = index.first(self.agent_entry_valid, self._fits(item, refused, pass_over))
                if entry is not None:
                    decision.candidates.append((entry[0], entry[2]))
            if decision.candidates:
                decision.winner = decision.candidates[0][1]
        if not self.tracing:
            return  # exclusions are only read by R43's trace
        for agent_id in item.declines:  # R25 exclusions are known without looking at the pools
            if agent_id not in refused and self._declined(item, agent_id, pass_over):
                refused[agent_id] = "declined"
        for agent_id, reason in refused.items():
            decision.exclude(reason, 1, [agent_id])
        decision.exclude("profile", index.lacking)
        short = queue.ready - index.live - index.lacking
        if short > 0:
            decision.exclude("skill", short, self._skill_misses(index, short))
        self._count_unready(queue, decision)

    def _top_five(
        self, index: ReqIndex, item: WorkItem, refused: dict[str, str], pass_over: int
    ) -> list[Candidate]:
        """The winner and the rest of R43's top 5 candidates, in one best-first walk over the
        heap tree of the requirement's index: a child is never smaller than its parent, so the
        live entries come out in the order popping would give them, and about five entries are
        visited whatever the number of members. The live entries that may not take the item and
        come before the winner are the ones refused (all of them when nobody may)."""
        agents, entries = self.agents, index.entries
        frontier: list[tuple[tuple[Any, ...], int]] = [(entries[0][0], 0)]
        found: list[Candidate] = []
        size = len(entries)
        while frontier and len(found) < 5:
            key, at = heapq.heappop(frontier)
            _, version, agent_id = entries[at]
            agent = agents.get(agent_id)
            if agent is not None and agent.version == version:
                reason = self.agent_may_take(item, agent, pass_over=pass_over)
                if reason is None:
                    found.append((key, agent_id))
                elif not found:
                    refused[agent_id] = reason
            child = 2 * at + 1
            if child < size:
                heapq.heappush(frontier, (entries[child][0], child))
                child += 1
                if child < size:
                    heapq.heappush(frontier, (entries[child][0], child))
        return found

    def _skill_misses(self, index: ReqIndex, short: int) -> list[Any]:
        """R43: up to 10 of the ``short`` ready members whose skills fall short, each with what it
        lacks, from the index's pools in the queue's pool order."""
        named: list[Any] = []
        wanted = min(10, short)
        agents = self.agents
        for pool in index.short:
            if pool._live <= 0:  # the count itself, not its property (this loop is hot)
                continue
            missing = self.sigs.missing(index.req, pool.sig)
            for agent_id, (_, version) in pool.latest.items():  # Pool.ready_ids, inlined
                agent = agents.get(agent_id)
                if agent is not None and agent.version == version:
                    named.append({"agent": agent_id, "missing": missing})
                    if len(named) == wanted:
                        return named
        return named

    def _fits(
        self, item: WorkItem, refused: dict[str, str], pass_over: int
    ) -> Callable[[str], bool]:
        """A pool filter for the slow path, remembering why each agent was refused (R43)."""

        def fits(agent_id: str) -> bool:
            reason = self.agent_may_take(item, self.agents[agent_id], pass_over=pass_over)
            if reason is not None:
                refused[agent_id] = reason
            return reason is None

        return fits

    def _count_unready(self, queue: QueueRuntime, decision: Decision) -> None:
        """Members not in any pool: excluded by presence, or by capacity while present (R43 counts).

        The presence count is exact; its names (up to 10) come from the first
        ``PRESENCE_NAME_SCAN`` members, so that naming costs the same with 100 or 100,000 members.
        """
        absent = len(queue.members) - queue.present
        if absent > 0:
            decision.exclude("presence", absent, self._absent_names(queue))
        for reason, agents in queue.unready.items():
            # Newest first: a dict that churns keeps deleted slots at its front, so reading from
            # the end stays cheap however many agents the queue has.
            decision.exclude(reason, len(agents), list(itertools.islice(reversed(agents), 10)))

    def _absent_names(self, queue: QueueRuntime) -> list[str]:
        """Up to 10 members without an allowed presence, among the first members of ``queue``."""
        names: list[str] = []
        for agent_id in itertools.islice(queue.members, PRESENCE_NAME_SCAN):
            agent = self.agents.get(agent_id)
            if agent is None or agent.presence not in queue.allowed:
                names.append(agent_id)
                if len(names) == 10:
                    break
        return names

    def _best_of(
        self, item: WorkItem, queue: QueueRuntime, agent_ids: tuple[str, ...], decision: Decision
    ) -> None:
        """Choose among the named agents by the queue's method (R29, R30)."""
        ws = self.workstreams[item.workstream]
        req = item.group
        assert isinstance(req, matching.Requirement)
        for agent_id in agent_ids:
            agent = self.agents.get(agent_id)
            reason = self._eligible(item, queue, agent, req, ws, pass_over=PASS_NONE)
            if reason == "skill" and agent is not None and self.tracing:
                missing = matching.missing_skills(req, agent.signature)
                decision.exclude(reason, 1, [{"agent": agent_id, "missing": missing}])
                continue
            if reason is not None:
                decision.exclude(reason, 1, [agent_id])
                continue
            assert agent is not None
            rank = self.sigs.rank(req, agent.signature, ws.cfg.skill_match, queue.method)
            assert rank is not None
            decision.candidates.append(((*rank, *self.method_key(agent, queue)), agent_id))
        if decision.candidates:
            decision.winner = min(decision.candidates)[1]

    def _eligible(
        self,
        item: WorkItem,
        queue: QueueRuntime,
        agent: AgentState | None,
        req: matching.Requirement,
        ws: plans.WorkstreamPlan,
        *,
        pass_over: int,
        skills: bool = True,
    ) -> str | None:
        """Every R16 check for one agent, or the reason it fails."""
        if agent is None or queue.name not in agent.queues:
            return "membership"
        if queue.name not in agent.ready:
            return "presence" if agent.presence not in queue.allowed else "capacity"
        if skills:
            sig = agent.signature
            assert isinstance(sig, matching.Signature)
            if self.sigs.rank(req, sig, ws.cfg.skill_match, queue.method) is None:
                return matching.exclusion(req, sig, ws.cfg.skill_match) or "skill"
        return self.agent_may_take(item, agent, pass_over=pass_over)

    def method_key(self, agent: AgentState, queue: QueueRuntime) -> tuple[Any, ...]:
        """The agent's key in ``queue``'s pool (R17)."""
        name = queue.name
        return matching.method_key(
            queue.method,
            agent.id,
            agent.capacity_units - agent.used_units,
            agent.queues.get(name, 0.0),
            agent.last_assigned.get(name),
            agent.last_release,
        )

    def _custom(
        self, item: WorkItem, queue: QueueRuntime, decision: Decision, *, pass_over: int
    ) -> None:
        """R19: the first rule true for at least one eligible agent gives the item to its top agent.

        Custom rules are arbitrary expressions over agents, so this scans the queue's ready members
        (a custom queue trades speed for freedom; the built-in methods never scan).
        """
        ws = self.workstreams[item.workstream]
        req = item.group
        assert isinstance(req, matching.Requirement)
        ready = [self.agents[a] for a in queue.members if queue.name in self.agents[a].ready]
        scope = self.scope
        scope.item, scope.queue, scope.now = item, queue.name, self.now
        for rule in self.custom.get(queue.name, []):
            for agent in ready:
                if self._eligible(
                    item, queue, agent, req, ws, pass_over=pass_over, skills=not rule.ignore_skills
                ):
                    continue
                scope.agent = agent
                if rule.when(scope):
                    key = self._custom_key(rule, agent, queue)
                    decision.candidates.append((key, agent.id))
                elif rule.when.probes:
                    self._note_recheck(decision, expressions.next_change(rule.when, scope))
            if decision.candidates:
                decision.winner = min(decision.candidates)[1]
                decision.recheck_at = None
                return

    @staticmethod
    def _note_recheck(decision: Decision, at: float | None) -> None:
        if at is not None and (decision.recheck_at is None or at < decision.recheck_at):
            decision.recheck_at = at

    def _custom_key(
        self, rule: plans.CustomRulePlan, agent: AgentState, queue: QueueRuntime
    ) -> tuple[Any, ...]:
        name = queue.name
        args = (
            agent.id,
            agent.free_units,
            agent.queues.get(name, 0.0),
            agent.last_assigned.get(name),
            agent.last_release,
        )
        tie = matching.method_key(model.Method.ROUND_ROBIN, *args)
        if rule.method is model.Method.MOST_SKILLED:
            req = self.scope.item.group if self.scope.item is not None else None  # type: ignore[attr-defined]
            skills = req.skills if isinstance(req, matching.Requirement) else ()
            return (-sum(agent.skills.get(name, 0) for name, _, _ in skills), *tie)
        if rule.method is not None:
            return (*matching.method_key(rule.method, *args), *tie)
        assert rule.order_by is not None
        self.scope.agent = agent
        return (plans.order_value(rule.order_by(self.scope), rule.desc), *tie)

    # -- agent side -----------------------------------------------------------------------------------

    def find_item(self, agent: AgentState, levels: list[list[str]]) -> tuple[WorkItem, str] | None:
        """The waiting item ``agent`` takes next, and its queue (R10, R11).

        ``levels`` are the agent's queues grouped by queue priority, smallest number first. Within a
        level, each queue offers its best fitting item by the queue's own order; among those, the one
        that waited longest overall (R6 order) wins.
        """
        found = self._find_item(agent, levels, PASS_NONE)
        if found is None and agent.passed is not None:
            found = self._find_item(agent, levels, PASS_RETURN)
        return found

    def _find_item(
        self, agent: AgentState, levels: list[list[str]], floor: int
    ) -> tuple[WorkItem, str] | None:
        for level in levels:
            best: tuple[tuple[Any, ...], WorkItem, str] | None = None
            for name in level:
                if name not in agent.ready:
                    continue
                found = self._best_in_queue(agent, self.queues[name], floor)
                if found is not None:
                    key = _cross_key(found)
                    if best is None or key < best[0]:
                        best = (key, found, name)
            if best is not None:
                return best[1], best[2]
        return None

    def _best_in_queue(self, agent: AgentState, queue: QueueRuntime, floor: int) -> WorkItem | None:
        if queue.waiting <= queue.offered:
            return None
        sig = agent.signature
        assert isinstance(sig, matching.Signature)
        best: Entry | None = None
        valid = self.item_entry_valid
        for (ws_name, req), group in queue.groups.items():
            if group.live <= 0:
                continue
            ws = self.workstreams[ws_name]
            if ws.cfg.mode is model.Mode.PICK or agent.presence not in ws.allowed:
                continue
            custom = queue.method is model.Method.CUSTOM
            if not custom and self.sigs.rank(req, sig, ws.cfg.skill_match, queue.method) is None:
                continue
            if self.room_for(agent, req.units, req.profiles) is not None:
                continue
            entry = group.first(valid, self._taker(agent, queue, custom, floor))
            if entry is not None and (best is None or entry[0] < best[0]):
                best = entry
        return None if best is None else self.items[best[2]]

    def _taker(
        self, agent: AgentState, queue: QueueRuntime, custom: bool, floor: int
    ) -> Callable[[str], bool]:
        def takes(item_id: str) -> bool:
            item = self.items[item_id]
            if item.auto_blocked or self.agent_may_take(item, agent, pass_over=floor) is not None:
                return False
            restricted = item.preferred_agents
            if restricted and agent.id not in restricted:
                ws = self.workstreams[item.workstream].cfg
                if ws.preferred.fallback is model.PreferredFallback.WAIT:
                    return False
            return not custom or self._custom_allows(item, agent, queue, floor)

        return takes

    def _custom_allows(
        self, item: WorkItem, agent: AgentState, queue: QueueRuntime, floor: int
    ) -> bool:
        """Whether the custom rules give ``item`` to ``agent``, who has just gained room (R19).

        The agent alone is tried first: unless one rule holds for it (and it is eligible at the
        most lenient pass-over level), no decision could give it the item, whoever else is free.
        Only then is the whole decision taken over the queue's ready members. So an agent's side
        costs one rule check per waiting item, not one per waiting item and ready member.
        """
        if not self._custom_holds_for(item, agent, queue, floor):
            return False
        return self._custom_decides(item, agent, queue, floor)

    def _custom_holds_for(
        self, item: WorkItem, agent: AgentState, queue: QueueRuntime, floor: int
    ) -> bool:
        ws = self.workstreams[item.workstream]
        req = item.group
        assert isinstance(req, matching.Requirement)
        scope = self.scope
        scope.item, scope.queue, scope.now, scope.agent = item, queue.name, self.now, agent
        for rule in self.custom.get(queue.name, []):
            skills = not rule.ignore_skills
            if self._eligible(item, queue, agent, req, ws, pass_over=floor, skills=skills):
                continue
            if rule.when(scope):
                return True
        return False

    def _custom_decides(
        self, item: WorkItem, agent: AgentState, queue: QueueRuntime, floor: int
    ) -> bool:
        """Whether the whole custom decision, over every ready member, gives ``item`` to ``agent``."""
        for pass_over in (PASS_ALL, PASS_LAST, PASS_NONE, PASS_RETURN)[: 3 - floor]:
            decision = Decision()
            self._custom(item, queue, decision, pass_over=pass_over)
            if decision.winner is not None:
                return decision.winner == agent.id
        return False


def _cross_key(item: WorkItem) -> tuple[Any, ...]:
    """R10: across queues of one priority, affinity returns first (R9), then R6 order."""
    return (
        0 if item.affinity_agent is not None else 1,
        -item.effective_priority,
        item.waiting_since,
        item.id,
    )
