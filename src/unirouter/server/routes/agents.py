"""Agents, offers and queues: presence, offer answers, live queue state and pick lists."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import Field

from unirouter import errors
from unirouter.config import model
from unirouter.engine import AgentState, Engine
from unirouter.server import models, views
from unirouter.server.host import EngineHost
from unirouter.server.problems import ApiProblem
from unirouter.server.routes._deps import Caller, Host

__all__ = ["router"]

Role = model.Role
router = APIRouter(prefix="/v1")


#: The most agents one ``GET /v1/agents?id=…`` names (a console refreshing what changed), and the
#: longest id it takes: together they keep the URL under the 64 KiB a request line may have.
IDS_LIMIT = 50
ID_LENGTH = 100
AgentId = Annotated[str, Field(min_length=1, max_length=ID_LENGTH)]


@router.get("/agents", response_model=list[models.AgentOut], tags=["agents"])
async def list_agents(
    caller: Caller,
    host: Host,
    ids: Annotated[
        list[str] | None,
        Query(
            alias="id",
            max_length=IDS_LIMIT,
            description="Only these agents (repeat the parameter); ids of no agent are left out",
        ),
    ] = None,
) -> Any:
    """Every agent's presence (and since when), capacity used and free, items and open offers;
    with ``id``, only the agents named."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    engine = host.engine

    def view() -> list[dict[str, Any]]:
        chosen = engine.agents() if ids is None else _known_agents(engine, ids)
        return [views.agent_view(engine, a, host.projection) for a in chosen]

    return await host.read(view)


def _known_agents(engine: Engine, ids: list[str]) -> list[AgentState]:
    found = []
    for agent_id in dict.fromkeys(ids):
        with contextlib.suppress(errors.NotFound):
            found.append(engine.agent(agent_id))
    return found


@router.get("/agents/{agent_id}", response_model=models.AgentOut, tags=["agents"])
async def get_agent(agent_id: str, caller: Caller, host: Host) -> Any:
    """One agent; an agent token reads only its own agent."""
    caller.act_as(agent_id, Role.ADMIN, Role.SUPERVISOR, field="agent_id")
    agent = host.engine.agent(agent_id)
    return await host.read(lambda: views.agent_view(host.engine, agent, host.projection))


@router.put("/agents/{agent_id}/presence", response_model=models.AgentOut, tags=["agents"])
async def set_presence(agent_id: str, body: models.PresenceIn, caller: Caller, host: Host) -> Any:
    """A manual presence (R32); ``inactive`` is system-set only. With a catalogue of custom
    presences (``presences`` in the configuration) a ``label`` must be one of them, and its base
    presence is the catalogue's (``presence`` may then be left out)."""
    caller.act_as(agent_id, Role.ADMIN, Role.SUPERVISOR, field="agent_id")
    host.engine.agent(agent_id)
    presence = _presence_of(host.engine.config, body)
    args = {"agent": agent_id, "presence": presence.value}
    if body.label is not None:
        args["label"] = body.label
    return await host.command(
        "presence",
        args,
        lambda _: views.agent_view(host.engine, host.engine.agent(agent_id), host.projection),
    )


@router.get("/catalogue", tags=["agents"])
async def catalogue(caller: Caller, host: Host) -> Any:
    """What agents choose from, as configured: the custom presences (label, base presence and
    title, R32) and each workstream's wrap-up codes. Any role may read it."""
    caller.allow(*Role)
    config = host.engine.config
    presences = [
        {"label": label, "base": p.base.value, "title": p.title or label}
        for label, p in config.presences.items()
    ]
    codes = {name: list(ws.wrap_up.codes) for name, ws in config.workstreams.items()}
    return {"presences": presences, "wrap_up_codes": codes}


def _presence_of(config: model.Config, body: models.PresenceIn) -> model.BasePresence:
    """The base presence a request asks for (R32), checked against the catalogue."""
    catalogue = config.presences
    if body.label is None or not catalogue:
        if body.presence is None:
            raise ApiProblem(422, "invalid_input", "give a presence (or a label of the "
                             "configured presences)", field="presence")  # fmt: skip
        return body.presence
    custom = catalogue.get(body.label)
    if custom is None:
        raise ApiProblem(422, "invalid_input", f"{body.label!r} is not a configured presence "
                         f"(one of: {', '.join(catalogue)})", field="label")  # fmt: skip
    if body.presence is not None and body.presence is not custom.base:
        raise ApiProblem(422, "invalid_input", f"the presence {body.label!r} is "
                         f"{custom.base.value}, not {body.presence.value}", field="presence")  # fmt: skip
    return custom.base


@router.post("/offers/{offer_id}/accept", response_model=models.ItemOut, tags=["offers"])
async def accept_offer(offer_id: str, caller: Caller, host: Host) -> Any:
    """Accept an open offer before it expires (R24); only the agent it was made to may."""
    offer = host.engine.offer(offer_id)
    caller.act_as(offer.agent, Role.ADMIN)
    return await host.command(
        "accept", {"offer": offer_id, "agent": offer.agent},
        lambda item: views.item_view(host.engine, host.projection, item),
    )  # fmt: skip


@router.post("/offers/{offer_id}/decline", response_model=models.ItemOut, tags=["offers"])
async def decline_offer(
    offer_id: str,
    caller: Caller,
    host: Host,
    body: Annotated[models.DeclineIn | None, Body()] = None,
) -> Any:
    """Decline with an optional reason: the item returns to its place (R25)."""
    offer = host.engine.offer(offer_id)
    caller.act_as(offer.agent, Role.ADMIN)
    args: dict[str, Any] = {"offer": offer_id, "agent": offer.agent}
    if body is not None and body.reason is not None:
        args["reason"] = body.reason
    return await host.command(
        "decline", args, lambda item: views.item_view(host.engine, host.projection, item)
    )


@router.get("/queues", response_model=list[models.QueueOut], tags=["queues"])
async def list_queues(caller: Caller, host: Host) -> Any:
    """Live state of every queue, read now: longest wait (queued and offered items), whether its
    operating hours hold, and its service level today."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
    engine = host.engine
    return await host.read(lambda: _queue_views(host, engine.queue_names()))


@router.get("/queues/{name}", response_model=models.QueueOut, tags=["queues"])
async def get_queue(name: str, caller: Caller, host: Host) -> Any:
    """Waiting, offered, longest wait, EWT, members, staffed and ready agents, open, today."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
    host.engine.queue_status(name)  # 404 for a queue that does not exist
    return await host.read(lambda: _queue_views(host, [name])[0])


def _queue_views(host: EngineHost, names: list[str]) -> list[dict[str, Any]]:
    """Queue views at the time of the read; one report per distinct start of day (queues in one
    time zone share it)."""
    engine, now = host.engine, host.now()
    starts = {name: views.day_start(engine.config, name, now) for name in names}
    reports: dict[float, dict[str, Any]] = {}
    for start in set(starts.values()):
        span = host.reports.window(start, None, None, now)
        reports[start] = host.reports.queues(span, now)["queues"]
    return [
        views.queue_view(engine, name, at=now,
                         today=views.today_view(starts[name], reports[starts[name]].get(name)))
        for name in names
    ]  # fmt: skip


@router.get("/queues/{name}/items", response_model=models.ItemList, tags=["queues"])
async def queue_items(
    name: str,
    caller: Caller,
    host: Host,
    for_agent: Annotated[str | None, Query(description="Only what this agent may pick")] = None,
) -> Any:
    """The queue's waiting items in queue order (R6–R9); with ``for_agent``, those the agent may
    pick (R28: members only, skills and capacity as the workstream's ``pick_checks`` says)."""
    if caller.role is Role.AGENT:
        for_agent = for_agent or caller.agent
        caller.act_as(for_agent or "", field="for_agent")
    else:
        caller.allow(Role.ADMIN, Role.SUPERVISOR)
    engine = host.engine
    if for_agent is not None:
        engine.agent(for_agent)

    def listing() -> dict[str, Any]:
        items = engine.waiting_items(name)
        if for_agent is not None:
            items = [i for i in items if engine.may_pick(i.id, agent=for_agent)]
        bodies = [views.item_view(engine, host.projection, i, trace=False) for i in items]
        return {"items": bodies, "next_cursor": None}

    return await host.read(listing)
