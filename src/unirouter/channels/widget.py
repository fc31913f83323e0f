"""The customer chat widget's door: ``/v1/widget/conversations`` (issue 8 item 5).

A company's page embeds ``/ui/widget/`` with its deployment's widget key (``channels.widget``).
The key is public, since every visitor's browser holds it: it says which deployment a chat is for,
and the guards are the per-address and total rate limits and, when configured, the list of sites
(``Origin``) allowed to open chats. Opening a chat answers the conversation's customer token
(SPEC §6.3); every later call of the widget carries that token alone, which reaches this one
conversation and nothing else:

* ``POST /v1/widget/conversations`` (header ``X-Widget-Key``): open a chat, with its first message;
  the widget's own random ``conversation`` id makes a retried request return the same chat;
* ``GET /v1/widget/conversations/{id}``: its state, place in the queue and estimated wait, and the
  first name of the agent who has it;
* ``POST /v1/widget/conversations/{id}/end``: the customer leaves: a chat still waiting is
  abandoned (R40); one with an agent gets a last message saying so, and the agent closes it;
* messages: the ordinary ``GET|POST /v1/work-items/{id}/messages`` (``wait_s`` is the live push); a
  message to a parked chat resumes it, back to its agent under affinity (R29).
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from unirouter.channels import intake
from unirouter.channels.runtime import ChannelError, secret
from unirouter.config import channels as settings
from unirouter.config import model
from unirouter.engine import ItemState, WorkItem
from unirouter.server import commands
from unirouter.server.host import EngineHost
from unirouter.server.problems import ApiProblem
from unirouter.server.routes._deps import Caller, check_input

__all__ = ["ENDED", "RateLimit", "router"]

router = APIRouter(prefix="/v1/widget/conversations", tags=["channels"])

#: The ``attributes.widget`` of the message a chat's end leaves for its agent.
ENDED = "ended"
#: The states in which a chat still waits for an agent: ending it then abandons it (R40).
WAITING = frozenset({ItemState.QUEUED, ItemState.OFFERED, ItemState.ROUTING})


class ChatIn(BaseModel):
    """A new chat: the widget's random id for it (a retry returns the same chat), the customer's
    name if given, and the first message."""

    model_config = ConfigDict(extra="forbid")

    conversation: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
    name: Annotated[str, Field(max_length=100)] = ""
    text: Annotated[str, Field(min_length=1, max_length=16_000)]


class RateLimit:
    """At most ``per_key`` events per key and ``total`` in all over a sliding ``window_s``."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def admit(self, key: str, per_key: int, total: int, now: float) -> float:
        """0 if admitted (and counted); otherwise the seconds until one would be."""
        horizon = now - self.window_s
        mine = self._seen.setdefault(key, deque())
        for stamps in (mine, self._all):
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
        if len(self._seen) > 10_000:  # forget the addresses that went quiet
            self._seen = {k: v for k, v in self._seen.items() if v} | {key: mine}
        for stamps, limit in ((mine, per_key), (self._all, total)):
            if len(stamps) >= limit:
                return stamps[-limit] + self.window_s - now
        mine.append(now)
        self._all.append(now)
        return 0.0


def _widget(host: EngineHost) -> settings.WidgetChannel:
    widget = host.engine.config.channels.widget
    if widget is None:
        raise ApiProblem(404, "not_found", "the chat widget is not enabled (channels.widget)")
    return widget


def _check_key(widget: settings.WidgetChannel, given: str | None) -> None:
    try:
        expected = secret(widget.key, "channels.widget.key") or ""
    except ChannelError as error:
        raise ApiProblem(503, "unavailable", str(error)) from None
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiProblem(401, "unauthorized", "the widget key is not valid", field="X-Widget-Key")


def _limit(request: Request, widget: settings.WidgetChannel) -> None:
    limiter: RateLimit | None = getattr(request.app.state, "widget_limit", None)
    if limiter is None:
        limiter = request.app.state.widget_limit = RateLimit()
    address = request.client.host if request.client else "?"
    wait = limiter.admit(address, widget.per_minute, widget.total_per_minute, time.monotonic())
    if wait > 0:
        retry = str(max(1, round(wait)))
        raise ApiProblem(429, "rate_limited", f"too many new chats: try again in {retry} s",
                         headers={"Retry-After": retry})  # fmt: skip


@router.post(
    "",
    status_code=201,
    responses={200: {"description": "A repeat"}, 429: {"description": "Too many new chats"}},
)
async def open_chat(
    body: ChatIn,
    request: Request,
    response: Response,
    key: Annotated[str | None, Header(alias="X-Widget-Key")] = None,
    origin: Annotated[str | None, Header()] = None,
) -> Any:
    """Open a chat from the widget: 201 once it and its first message are durable, with the
    conversation's customer token; a repeated ``conversation`` answers 200 with the same chat."""
    host: EngineHost = request.app.state.host
    widget = _widget(host)
    _check_key(widget, key)
    if widget.origins and origin not in widget.origins:
        raise ApiProblem(403, "forbidden", f"chats may not be opened from {origin or 'no site'}",
                         field="Origin")  # fmt: skip
    await check_input(request)  # issue 17: no lone surrogate, no NaN, bounded nesting
    external = f"widget:{body.conversation}"
    repeat, forgotten = await host.repeat_of(widget.workstream, external)
    if forgotten is not None:  # issue 17 item 8: still a repeat
        raise ApiProblem(409, "already_closed", f"chat {body.conversation!r} was item "
                         f"{forgotten}, closed and no longer held; nothing was created",
                         field="conversation", item=forgotten)  # fmt: skip
    if repeat is not None:
        await host.barrier()
        response.status_code = 200
        return await _answer(request, host, repeat)
    _limit(request, widget)
    item = commands.new_item_id()
    customer = {"id": external, **({"name": body.name} if body.name else {})}
    submit = {"item_id": item, "external_id": external, "workstream": widget.workstream,
              "channel": "web", "customer": customer, "attributes": {"via": "widget"}}  # fmt: skip
    first = {"item": item, "number": 1, "sender": "customer", "text": body.text,
             "attributes": {}, "at": host.now(), "agent": None, "resume": False}  # fmt: skip
    await intake.commit(host, [("submit", submit), ("message", first)])
    return await _answer(request, host, host.engine.item(item))


async def _answer(request: Request, host: EngineHost, item: WorkItem) -> dict[str, Any]:
    """The chat's status with a fresh customer token (its hash durable before the answer)."""
    token = await request.app.state.auth.customer_token(item.id)
    return {**_status(host, item), "customer_token": token}


def _conversation(host: EngineHost, caller: Caller, item_id: str) -> WorkItem:
    """The caller's own chat (its customer token), or any chat for staff."""
    if caller.customer_of is None:
        caller.allow(model.Role.ADMIN, model.Role.SUPERVISOR, model.Role.INTAKE)
    item = host.engine.item(item_id)
    if item.kind is not model.Kind.MESSAGING:
        raise ApiProblem(404, "not_found", f"{item_id} is not a chat", field="item_id")
    return item


@router.get("/{item_id}")
async def read_chat(item_id: str, request: Request, caller: Caller) -> Any:
    """What the customer sees: state, place in the queue, estimated wait, the agent's name."""
    host: EngineHost = request.app.state.host
    item = _conversation(host, caller, item_id)
    return await host.read(lambda: _status(host, item))


@router.post("/{item_id}/end")
async def end_chat(item_id: str, request: Request, caller: Caller) -> Any:
    """The customer leaves: a waiting chat is abandoned (R40); a chat with an agent (assigned,
    in wrap-up or parked) gets a last message marked ``attributes.widget = "ended"``, for its agent
    to close. Ending an ended or closed chat changes nothing."""
    host: EngineHost = request.app.state.host
    item = _conversation(host, caller, item_id)
    if item.state in WAITING:
        await intake.commit(host, [("cancel", {"item": item.id, "reason": "abandoned"})])
    elif item.state is not ItemState.CLOSED and not _ended(host, item):
        number = host.projection.message_count(item.id) + 1
        last = {"item": item.id, "number": number, "sender": "customer",
                "text": "The customer ended the chat.", "attributes": {"widget": ENDED},
                "at": host.now(), "agent": item.agent or item.affinity_agent,
                "resume": False}  # fmt: skip
        await intake.commit(host, [("message", last)])
    return await host.read(lambda: _status(host, item))


def _ended(host: EngineHost, item: WorkItem) -> bool:
    messages = host.projection.messages(item.id)
    return bool(messages) and messages[-1].get("attributes", {}).get("widget") == ENDED


def _status(host: EngineHost, item: WorkItem) -> dict[str, Any]:
    engine = host.engine
    position = ewt = None
    if item.state is ItemState.QUEUED and item.queue is not None:
        waiting = engine.waiting_items(item.queue)
        ids = [i.id for i in waiting]
        position = ids.index(item.id) + 1 if item.id in ids else None
        ewt = engine.queue_status(item.queue)["ewt_s"]
    holder = item.agent or (item.affinity_agent if item.state is ItemState.PARKED else None)
    agent = engine.config.agents.get(holder) if holder else None
    return {
        "id": item.id,
        "state": item.state.value,
        "close_reason": item.close_reason.value if item.close_reason else None,
        "position": position,
        "ewt_s": ewt if ewt is None or ewt != float("inf") else None,
        "agent_name": (agent.name or holder or "").split(" ")[0] if agent else None,
        "ended": _ended(host, item),
    }
