"""Work items: intake, reading, changes, lifecycle actions, pick and conversation messages."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from unirouter.config import model
from unirouter.engine import ItemState, OfferStatus, WorkItem
from unirouter.server import commands, limits, models, views, wire
from unirouter.server.auth import Authenticator, Principal
from unirouter.server.host import EngineHost, Published
from unirouter.server.problems import ApiProblem
from unirouter.server.routes._deps import Caller, Host, Limited, Rates, check_size
from unirouter.storage import RecordKind

__all__ = ["router"]

Role = model.Role
router = APIRouter(prefix="/v1/work-items", tags=["work items"])
PAGE_LIMIT = 1000
#: The longest a message long poll may wait (clients poll again after it).
MESSAGE_WAIT_MAX_S = 60.0


def _view(host: EngineHost, item: WorkItem) -> dict[str, Any]:
    return views.item_view(host.engine, host.projection, item)


async def _with_token(
    auth: Authenticator, item_id: str, answer: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    """``answer`` (a repeated intake's) with a fresh customer token of conversation ``item_id``,
    both durable. A new conversation's token is written in its item's append instead."""
    minted = asyncio.ensure_future(auth.customer_token(item_id))
    try:
        body = await answer
    except BaseException:
        await asyncio.wait([minted])  # a token of no item reaches nothing; let its write end
        raise
    body["customer_token"] = await minted
    return body


def _check_channel(host: EngineHost, workstream: str, channel: str | None) -> None:
    """An item's channel must be one of its workstream's ``channels`` when it lists any: a typo
    is a 422 naming ``channel``, not an item no report or rule will ever match."""
    defined = host.engine.config.workstreams.get(workstream)
    listed = [] if defined is None else defined.channels
    if channel is not None and listed and channel not in listed:
        raise ApiProblem(422, "invalid_input", f"channel {channel!r} is not a channel of "
                         f"workstream {workstream} (one of: {', '.join(listed)})",
                         field="channel")  # fmt: skip


def _is_conversation(host: EngineHost, workstream: str) -> bool:
    defined = host.engine.config.workstreams.get(workstream)
    return defined is not None and defined.kind is model.Kind.MESSAGING


@router.post(
    "",
    status_code=201,
    response_model=models.ItemOut,
    responses={200: {"model": models.ItemOut, "description": "A repeat of an earlier intake"}},
)
async def create_item(body: models.ItemIn, caller: Caller, request: Request) -> Any:
    """Intake (R1). A repeated ``external_id`` in the same workstream returns the same item (200).
    Answers 201 only once the item is durable. Messaging items carry a ``customer_token`` (a new
    one in each answer, a repeat's too; every one reaches the conversation)."""
    # The hot path (issue 10 item 3): the host and the authenticator come from the app's state
    # rather than two more dependencies, and the answer leaves as built (it is the view
    # ``ItemOut`` documents), not validated against the model once more.
    host: EngineHost = request.app.state.host
    caller.allow(Role.INTAKE, Role.ADMIN)
    check_size(body.attributes, "attributes")
    check_size(body.customer, "customer")
    existing = host.engine.item_by_external_id(body.workstream, body.external_id)
    if existing is None and host.engine.forgets_closed:
        await _not_forgotten(host, body.workstream, body.external_id)
        existing = host.engine.item_by_external_id(body.workstream, body.external_id)
    conversation = _is_conversation(host, body.workstream)
    auth: Authenticator = request.app.state.auth
    if existing is not None:
        answer = host.read(lambda: _view(host, existing))
        repeat = await _with_token(auth, existing.id, answer) if conversation else await answer
        return wire.JSONResponse(repeat, status_code=200)
    _check_channel(host, body.workstream, body.channel)
    args = body.model_dump(mode="json", exclude_none=True)
    args["item_id"] = item_id = commands.new_item_id()
    # The body was found well formed at the edge (``check_input``), and its model keeps it so.
    if not conversation:
        created = await host.command("submit", args, lambda i: _view(host, i), checked=True)
        return wire.JSONResponse(created, status_code=201)
    # A new conversation's token is stored in the item's own append: one group commit, and the
    # token reaches the item as soon as the 201 leaves (issue 10 item 3).
    token, key = auth.mint_customer_token(item_id)
    created = await host.command("submit", args, lambda i: _view(host, i), keys=[key],
                                 checked=True)  # fmt: skip
    created["customer_token"] = token
    return wire.JSONResponse(created, status_code=201)


async def _not_forgotten(host: EngineHost, workstream: str, external_id: str) -> None:
    """A repeat of an intake whose item was closed and left memory is still a repeat (issue 17
    item 8): the store's durable, indexed intake keys know it, and it is refused (409 naming
    ``external_id`` and the ``item``) rather than made a second time."""
    forgotten = await host.forgotten_intake(workstream, external_id)
    if forgotten is not None and host.engine.item_by_external_id(workstream, external_id) is None:
        raise ApiProblem(409, "already_closed", f"external_id {external_id!r} of workstream "
                         f"{workstream!r} was item {forgotten}, closed and no longer held; "
                         "nothing was created", field="external_id", item=forgotten)  # fmt: skip


@router.get("", response_model=models.ItemList)
async def list_items(
    caller: Caller,
    host: Host,
    state: ItemState | None = None,
    queue: str | None = None,
    agent: str | None = None,
    cursor: Annotated[str | None, Query(description="The next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT)] = 100,
) -> Any:
    """Items by state, queue and agent, in id order, paginated by cursor. An agent token lists
    its own items only."""
    if caller.role is Role.AGENT:
        agent = agent or caller.agent
        caller.act_as(agent or "", Role.ADMIN, Role.SUPERVISOR)
    else:
        caller.allow(Role.ADMIN, Role.SUPERVISOR)

    def page() -> dict[str, Any]:
        found = sorted(
            (i for i in host.engine.items()
             if (state is None or i.state is state) and (queue is None or i.queue == queue)
             and (agent is None or i.agent == agent) and (cursor is None or i.id > cursor)),
            key=lambda i: i.id,
        )  # fmt: skip
        chosen = found[:limit]
        bodies = [views.item_view(host.engine, host.projection, i, trace=False) for i in chosen]
        more = len(found) > limit
        return {"items": bodies, "next_cursor": chosen[-1].id if more else None}

    return await host.read(page)


def _item(host: EngineHost, item_id: str) -> WorkItem:
    return host.engine.item(item_id)


def _may_see(caller: Principal, host: EngineHost, item: WorkItem) -> None:
    """Agents read only their own items (held, in wrap-up, parked with them, closed by them), the
    items offered to them, and what their pick list shows (R28): never another agent's work."""
    if caller.customer_of is not None:
        raise ApiProblem(403, "forbidden", "a customer token reaches only its messages")
    if caller.role is Role.AGENT:
        if not agent_may_see(host, caller.agent or "", item):
            raise ApiProblem(403, "other_agent", f"item {item.id} is not yours", field="id")
        return
    caller.allow(Role.ADMIN, Role.SUPERVISOR, Role.INTAKE)


def agent_may_see(host: EngineHost, agent: str, item: WorkItem) -> bool:
    """Whether agent ``agent`` may read ``item`` (issue 17 item 7)."""
    if agent in (item.agent, item.holder, item.affinity_agent):
        return True
    engine = host.engine
    offer = None if item.offer is None else engine.offer(item.offer)
    if offer is not None and offer.status is OfferStatus.OPEN and offer.agent == agent:
        return True
    return engine.may_pick(item.id, agent=agent)


@router.get("/{item_id}", response_model=models.ItemOut)
async def get_item(item_id: str, caller: Caller, host: Host) -> Any:
    """State, queue, agent, transition times and trace (R43)."""
    item = _item(host, item_id)
    _may_see(caller, host, item)
    return await host.read(lambda: _view(host, item))


@router.patch("/{item_id}", response_model=models.ItemOut)
async def patch_item(item_id: str, body: models.ItemPatch, caller: Caller, host: Host) -> Any:
    """Change attributes (merged) or priority of a waiting item; its place follows at once (R7)."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR, Role.INTAKE)
    check_size(body.attributes, "attributes")
    item = _item(host, item_id)
    merged = {**item.attributes, **(body.attributes or {})}
    check_size(merged, "attributes")
    args = {"item": item_id, **body.model_dump(mode="json", exclude_none=True)}
    return await host.command("update", args, lambda i: _view(host, i))


async def _act(
    host: EngineHost, caller: Principal, item_id: str, op: str, args: dict[str, Any] | None = None
) -> Any:
    """A lifecycle action on one's own item (agents) or on any item (admin, supervisor)."""
    item = _item(host, item_id)
    if caller.role is Role.AGENT and item.agent != caller.agent:
        raise ApiProblem(403, "other_agent", f"item {item_id} is not held by agent {caller.agent}",
                         field="id", item=item_id)  # fmt: skip
    caller.allow(Role.AGENT, Role.ADMIN, Role.SUPERVISOR)
    return await host.command(op, {"item": item_id, **(args or {})}, lambda i: _view(host, i))


@router.post("/{item_id}/cancel", response_model=models.ItemOut)
async def cancel_item(
    item_id: str, caller: Caller, host: Host, body: Annotated[models.CancelIn | None, Body()] = None
) -> Any:
    """The customer left (``abandoned``, R40) or the item is called off (``cancelled``)."""
    caller.allow(Role.INTAKE, Role.ADMIN, Role.SUPERVISOR)
    _item(host, item_id)
    reason = (body or models.CancelIn()).reason
    return await host.command("cancel", {"item": item_id, "reason": reason},
                              lambda i: _view(host, i))  # fmt: skip


@router.post("/{item_id}/complete", response_model=models.ItemOut)
async def complete_item(
    item_id: str,
    caller: Caller,
    host: Host,
    body: Annotated[models.CompleteIn | None, Body()] = None,
) -> Any:
    """The agent is done with the customer: assigned → ``wrap_up`` (R33, capacity as the
    workstream's ``wrap_up.block`` says) until ``close``; ``{"wrap_up": false}`` closes at once.
    An optional ``code`` is the wrap-up code (one of the workstream's ``wrap_up.codes``)."""
    asked = body or models.CompleteIn()
    code = _wrap_up_code(host, item_id, asked.code)
    return await _act(host, caller, item_id, "complete", {"wrap_up": asked.wrap_up, **code})


@router.post("/{item_id}/wrap-up", response_model=models.ItemOut)
async def wrap_up_item(
    item_id: str,
    caller: Caller,
    host: Host,
    body: Annotated[models.CodeIn | None, Body()] = None,
) -> Any:
    """Another name for ``complete`` (assigned → ``wrap_up``, R33), kept for clients that use it."""
    code = _wrap_up_code(host, item_id, (body or models.CodeIn()).code)
    return await _act(host, caller, item_id, "wrap_up", code)


@router.post("/{item_id}/close", response_model=models.ItemOut)
async def close_item(
    item_id: str,
    caller: Caller,
    host: Host,
    body: Annotated[models.CodeIn | None, Body()] = None,
) -> Any:
    """Wrap-up is over: close the item as ``completed`` (from assigned, wrap-up or parked), with
    an optional wrap-up ``code`` (it replaces one given at ``complete``)."""
    item = _item(host, item_id)
    code = _wrap_up_code(host, item_id, (body or models.CodeIn()).code)
    parked_mine = item.state is ItemState.PARKED and item.affinity_agent == caller.agent
    if parked_mine and caller.role is Role.AGENT:
        return await host.command("close", {"item": item_id, **code}, lambda i: _view(host, i))
    return await _act(host, caller, item_id, "close", code)


def _wrap_up_code(host: EngineHost, item_id: str, code: str | None) -> dict[str, str]:
    """A wrap-up code as a command argument; one outside the workstream's ``wrap_up.codes`` (when
    it lists any) is a 422 naming ``code``, and nothing changes."""
    if code is None:
        return {}
    item = _item(host, item_id)
    workstream = host.engine.config.workstreams.get(item.workstream)
    codes = [] if workstream is None else workstream.wrap_up.codes
    if codes and code not in codes:
        raise ApiProblem(422, "invalid_input", f"{code!r} is not a wrap-up code of workstream "
                         f"{item.workstream} (one of: {', '.join(codes)})", field="code")  # fmt: skip
    return {"code": code}


@router.post("/{item_id}/park", response_model=models.ItemOut)
async def park_item(item_id: str, caller: Caller, host: Host) -> Any:
    """Park an async conversation waiting for the customer: capacity released (R34)."""
    return await _act(host, caller, item_id, "park")


@router.post("/{item_id}/resume", response_model=models.ItemOut)
async def resume_item(item_id: str, caller: Caller, host: Host) -> Any:
    """A parked conversation routes back, to its last agent under affinity (R29)."""
    item = _item(host, item_id)
    if caller.role is Role.AGENT and item.affinity_agent != caller.agent:
        raise ApiProblem(403, "other_agent", f"item {item_id} is not yours", field="id")
    caller.allow(Role.AGENT, Role.ADMIN, Role.SUPERVISOR, Role.INTAKE)
    return await host.command("resume", {"item": item_id}, lambda i: _view(host, i))


@router.post("/{item_id}/transfer", response_model=models.ItemOut)
async def transfer_item(item_id: str, body: models.TransferIn, caller: Caller, host: Host) -> Any:
    """To a queue of the item's kind, or to one agent (R31)."""
    if (body.queue is None) == (body.agent is None):
        raise ApiProblem(422, "invalid_input", "give exactly one of queue or agent", field="queue")
    args = {**body.model_dump(exclude_none=True), "by": caller.name}
    return await _act(host, caller, item_id, "transfer", args)


@router.post("/{item_id}/assign", response_model=models.ItemOut)
async def assign_item(item_id: str, body: models.AssignIn, caller: Caller, host: Host) -> Any:
    """Supervisor force-assign: may exceed capacity (R31). To an agent who is offline it goes
    through with a ``warnings`` entry (in the trace too): the item waits for them to come back."""
    caller.allow(Role.SUPERVISOR, Role.ADMIN)
    _item(host, item_id)
    agent = host.engine.agent(body.agent)
    warnings = []
    if agent.presence is model.BasePresence.OFFLINE:
        warnings.append(f"agent {body.agent} is offline: the item is theirs, but nobody works it "
                        "until they come back")  # fmt: skip

    def view(item: WorkItem) -> dict[str, Any]:
        return {**_view(host, item), "warnings": warnings}

    args = {"item": item_id, "agent": body.agent, "by": caller.name}
    return await host.command("assign", args, view)


@router.post("/{item_id}/pick", response_model=models.ItemOut)
async def pick_item(
    item_id: str, caller: Caller, host: Host, body: Annotated[models.PickIn | None, Body()] = None
) -> Any:
    """Claim a waiting item (R28): of two agents picking one item exactly one succeeds (409)."""
    agent = (body.agent if body else None) or caller.agent
    if agent is None:
        raise ApiProblem(422, "invalid_input", "name the agent who picks", field="agent")
    caller.act_as(agent, Role.ADMIN)
    _item(host, item_id)
    return await host.command("pick", {"item": item_id, "agent": agent}, lambda i: _view(host, i))


# -- conversation messages ---------------------------------------------------------------------


def _sender(caller: Principal, host: EngineHost, item: WorkItem) -> str:
    """Who writes: the conversation's customer, its agent, or a supervisor or admin."""
    if caller.customer_of is not None:
        return "customer"
    if caller.role is Role.AGENT:
        if caller.agent in (item.agent, item.affinity_agent):
            return "agent"
        raise ApiProblem(403, "other_agent", f"item {item.id} is not yours", field="id")
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    return caller.role.value if caller.role else "customer"


#: Record channels whose items carry a conversation with the customer: mail and portal cases
#: (issue 9; an agent's message on them is sent out as a reply).
THREADED_RECORDS = frozenset({"email", "case"})


@router.post("/{item_id}/messages", status_code=201, response_model=models.MessageOut)
async def post_message(
    item_id: str, body: models.MessageIn, caller: Caller, host: Host, bounds: Limited, rates: Rates
) -> Any:
    """Add a message to a conversation, durable before the answer, pushed live to the agent's
    stream. A customer writing to a parked conversation resumes it (R29). A closed conversation
    takes no more messages (409), and a message over a size (413), count (409) or rate (429)
    limit is refused: docs/server.md "Limits"."""
    item = _item(host, item_id)
    if item.kind is not model.Kind.MESSAGING and item.channel not in THREADED_RECORDS:
        raise ApiProblem(409, "not_a_conversation", f"item {item_id} is a {item.kind.value}",
                         field="id")  # fmt: skip
    sender = _sender(caller, host, item)
    _check_open(host, item, bounds)
    size = limits.message_size(body.text, body.attributes)
    limits.check_message_size(bounds, *size)
    rates.take(limits.message_draws(bounds, item_id, caller.name, sum(size)))
    number = host.projection.message_count(item_id) + 1
    args = {
        "item": item_id, "number": number, "sender": sender, "text": body.text,
        "attributes": body.attributes, "at": host.now(),
        "agent": caller.agent if sender == "agent" else (item.agent or item.affinity_agent),
        "resume": sender == "customer" and item.state is ItemState.PARKED,
    }  # fmt: skip
    await host.command("message", args)
    return host.projection.messages(item_id, number - 1)[0]


def _check_open(host: EngineHost, item: WorkItem, bounds: limits.Limits) -> None:
    """A closed conversation is over (issue 16: a message to it is refused, never dropped), and
    an open one holds at most ``conversation_messages``."""
    if item.state is ItemState.CLOSED:
        reason = item.close_reason.value if item.close_reason else "closed"
        raise ApiProblem(
            409, "conversation_closed",
            f"conversation {item.id} is closed ({reason}); it takes no more messages",
            field="id", item=item.id, state=item.state, reason=reason,
        )  # fmt: skip
    held = host.projection.message_count(item.id)
    if bounds.conversation_messages and held >= bounds.conversation_messages:
        raise ApiProblem(
            409, "conversation_full",
            f"conversation {item.id} holds {held} messages, the most it may hold",
            field="id", item=item.id, limit=bounds.conversation_messages,
        )  # fmt: skip


@router.get("/{item_id}/messages", response_model=models.MessageList)
async def get_messages(
    item_id: str,
    caller: Caller,
    host: Host,
    bounds: Limited,
    request: Request,
    after: Annotated[
        int, Query(ge=0, description="The cursor: only messages numbered above this")
    ] = 0,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description="At most this many messages (default and upper bound: the "
            "server's message_page and message_page_max, 100 and 1000 unless configured)",
        ),
    ] = None,
    wait_s: Annotated[
        float,
        Query(
            ge=0,
            le=MESSAGE_WAIT_MAX_S,
            description="Long poll: when nothing is newer than `after`, wait up to this many "
            "seconds for the next durable message of the conversation",
        ),
    ] = 0.0,
) -> Any:
    """The conversation so far (or after message number ``after``), a page at a time: with
    ``next_after`` set, more follow (ask again with ``after=next_after``). With ``wait_s``, the
    call returns as soon as the other side's next message is durable: the customer side's live
    push."""
    item = _item(host, item_id)
    _sender(caller, host, item)
    size = _page_size(bounds, limit)

    def view() -> dict[str, Any]:
        page = host.projection.messages(item_id, after, size + 1)
        more = len(page) > size
        return {"messages": page[:size], "next_after": page[size - 1]["number"] if more else None}

    if wait_s == 0:
        return await host.read(view)
    # Subscribed before the first read, so a message made durable in between is not missed.
    sub = host.subscribe(lambda record: _is_message_of(record, item_id))
    try:
        answer = await host.read(view)
        if not answer["messages"]:
            await _next_or_gone(sub.queue.get(), request, wait_s)
            answer = await host.read(view)
    finally:
        host.unsubscribe(sub)
    return answer


def _page_size(bounds: limits.Limits, asked: int | None) -> int:
    """The page a read gets: what it asked for, at most ``message_page_max`` (422 beyond)."""
    ceiling = bounds.message_page_max or PAGE_LIMIT
    if asked is not None and asked > ceiling:
        raise ApiProblem(422, "invalid_input", f"limit is at most {ceiling}", field="limit",
                         limit=ceiling)  # fmt: skip
    return asked or min(bounds.message_page or ceiling, ceiling)


async def _next_or_gone(next_message: Awaitable[Any], request: Request, wait_s: float) -> None:
    """Wait for the next message, at most ``wait_s``, and no longer than the client stays: a long
    poll whose client left (a closed page) would otherwise hold up a server's graceful stop."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    waits = [asyncio.ensure_future(next_message), asyncio.ensure_future(gone())]
    try:
        await asyncio.wait(waits, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def _is_message_of(record: Published, item_id: str) -> bool:
    """A durable ``message`` command of conversation ``item_id``."""
    body = record.body
    return (
        record.kind is RecordKind.COMMAND
        and body.get("op") == "message"
        and not body.get("refused")
        and body.get("args", {}).get("item") == item_id
    )
