"""``WS /v1/agents/{id}/stream``: an agent's live channel and its liveness (R35).

The stream pushes, once durable, every event naming the agent (offers made, accepted, declined,
expired or withdrawn, assignments, transfers, presence changes) and the messages of its
conversations. An agent's own connection is its liveness: the first one open reconnects it if it was
disconnected, and when its last one closes the engine disconnects it (offline at once, previous
presence back if it returns within 150 s). A supervisor or admin may watch without counting.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from unirouter import errors, wellformed
from unirouter.config import model
from unirouter.server import auth as auth_module
from unirouter.server import host as hosting
from unirouter.server import views, wire
from unirouter.server.auth import Authenticator, Principal
from unirouter.server.host import EngineHost, HostStopped, Published, Subscription
from unirouter.server.problems import ApiProblem, problem_response
from unirouter.storage import RecordKind

__all__ = ["router"]

Role = model.Role
router = APIRouter()


@router.websocket("/v1/agents/{agent_id}/stream")
async def agent_stream(websocket: WebSocket, agent_id: str) -> None:
    host: EngineHost = websocket.app.state.host
    auth: Authenticator = websocket.app.state.auth
    caller = await _admit(websocket, auth, host, agent_id)
    if caller is None:
        return
    own = caller.role is Role.AGENT
    hosting.ACTOR.set(caller.name)  # the connection's reconnect and disconnect name their actor
    sub = host.subscribe(lambda record: _concerns(record, agent_id))
    offered = auth_module.websocket_token(websocket) is not None
    await websocket.accept(subprotocol=auth_module.BEARER_PROTOCOL if offered else None)
    try:
        if own:
            await _connected(host, agent_id)
        hello = await host.read(lambda: views.agent_view(host.engine, host.engine.agent(agent_id),
                                                         host.projection))  # fmt: skip
        await websocket.send_text(_text({"type": "hello", "agent": hello}))
        await _pump(host, websocket, sub)
    finally:
        host.unsubscribe(sub)
        if own:
            await _dropped(host, agent_id)


async def _admit(
    websocket: WebSocket, auth: Authenticator, host: EngineHost, agent_id: str
) -> Principal | None:
    """Refuse the handshake with a problem response: 401, 403 or 404."""
    try:
        caller = await auth.authenticate(websocket)
        caller.act_as(agent_id, Role.ADMIN, Role.SUPERVISOR, field="agent_id")
        host.engine.agent(agent_id)
    except ApiProblem as problem:
        await websocket.send_denial_response(
            problem_response(problem.status, problem.code, problem.detail, field=problem.field)
        )
        return None
    except errors.NotFound as missing:
        await websocket.send_denial_response(problem_response(404, "not_found", missing.message))
        return None
    return caller


def _concerns(record: Published, agent_id: str) -> bool:
    body = record.body
    if record.kind is RecordKind.EVENT:
        return bool(body.get("agent") == agent_id)
    return body.get("op") == "message" and body["args"].get("agent") == agent_id


async def _pump(host: EngineHost, websocket: WebSocket, sub: Subscription) -> None:
    """Send records until the client goes away (its messages are read only to notice that)."""
    reader = asyncio.create_task(_drain(websocket))
    try:
        while not reader.done():
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            records = [getter.result()]
            while not sub.queue.empty():  # the rest of the append: no task and wait per frame
                records.append(sub.queue.get_nowait())
            for record in records:
                if record is None or sub.overflowed:
                    await websocket.close(code=1012 if record is None else 1008)
                    return
                await websocket.send_text(_frame(host, record))
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _drain(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while websocket.client_state is WebSocketState.CONNECTED:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


def _frame(host: EngineHost, record: Published) -> str:
    """An event frame (an ``offer_made`` one with the item's summary, so the agent can decide
    from the frame alone) or a message frame. The event is the JSON the log holds, encoded once
    for every stream (issue 17 item 8)."""
    if record.kind is RecordKind.EVENT:
        extra = None
        if record.body.get("type") == "offer_made" and host.has_engine:
            extra = {"summary": views.offer_summary(host.engine, str(record.body.get("item")))}
        return wire.ws_frame("event", record.cursor, "event", record.data, extra)
    args = record.body["args"]
    return _text({"type": "message", "cursor": record.cursor, "message": {
        k: args.get(k) for k in ("number", "item", "sender", "agent", "text", "attributes", "at")}})  # fmt: skip


def _text(frame: dict[str, Any]) -> str:
    """A frame as strict JSON text that cannot fail on stored data (issue 17 item 1)."""
    return wellformed.encode(frame).decode("utf-8")


# -- liveness (R35) ------------------------------------------------------------------------------------


async def _connected(host: EngineHost, agent_id: str) -> None:
    host.connections[agent_id] += 1
    if host.cluster is not None:  # several servers: the leader decides from every server's report
        if host.connections[agent_id] == 1:
            await host.cluster.connections_changed()
        return
    if not host.engine.agent(agent_id).connected:
        with contextlib.suppress(errors.CommandError):
            await host.command("reconnect", {"agent": agent_id})


async def _dropped(host: EngineHost, agent_id: str) -> None:
    host.connections[agent_id] -= 1
    if host.connections[agent_id] > 0:
        return
    del host.connections[agent_id]
    if host.cluster is not None:
        await host.cluster.connections_changed()
        return
    with contextlib.suppress(errors.CommandError, HostStopped):
        if host.engine.agent(agent_id).connected:
            await host.command("disconnect", {"agent": agent_id})
