"""HTTP routes of the channels: what runs (``GET /v1/channels``), the outbound webhooks' state
(``GET /v1/webhooks``, ``GET /v1/webhooks/{name}/dead-letters``), and the inbound webhooks and
portal cases and chat widget of :mod:`unirouter.channels.messaging`,
:mod:`unirouter.channels.portal` and :mod:`unirouter.channels.widget`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from unirouter.channels import messaging, portal, widget
from unirouter.channels.runtime import Runtime
from unirouter.config import model
from unirouter.server.problems import ApiProblem
from unirouter.server.routes._deps import Caller

__all__ = ["router"]

router = APIRouter(tags=["channels"])
router.include_router(messaging.router)
router.include_router(portal.router)
router.include_router(widget.router)
STAFF = (model.Role.ADMIN, model.Role.SUPERVISOR)


def runtime_of(request: Request) -> Runtime:
    found: Runtime = request.app.state.channels
    return found


@router.get("/v1/channels")
async def get_channels(request: Request, caller: Caller) -> dict[str, Any]:
    """The channel adapters running in this server and their listening addresses."""
    caller.allow(*STAFF)
    return runtime_of(request).describe()


@router.get("/v1/webhooks")
async def get_webhooks(request: Request, caller: Caller) -> dict[str, Any]:
    """Every outbound webhook: its cursor in the log, how far behind it is, and whether its
    endpoint is failing (state, attempts, last error, dead letters)."""
    caller.allow(*STAFF)
    runtime = runtime_of(request)
    last = await request.app.state.host.read(lambda: runtime.host.store.last_cursor())
    return {"webhooks": [_webhook(runtime, name, int(last)) for name in runtime.webhooks]}


def _webhook(runtime: Runtime, name: str, last: int) -> dict[str, Any]:
    hook = runtime.webhooks[name]
    status = runtime.followers[f"webhook:{name}"].status
    return {"name": name, "url": hook.url, "events": hook.events, "state": status.state,
            "cursor": status.cursor, "behind": max(0, last - status.cursor),
            "delivered": status.delivered, "failed_attempts": status.failed_attempts,
            "attempts": status.attempts, "last_error": status.last_error,
            "last_success_at": status.last_success_at,
            "dead_letters": status.dead_letters}  # fmt: skip


@router.get("/v1/webhooks/{name}/dead-letters")
async def get_dead_letters(name: str, request: Request, caller: Caller) -> dict[str, Any]:
    """The deliveries of webhook ``name`` that failed ``max_attempts`` times (newest last)."""
    caller.allow(*STAFF)
    runtime = runtime_of(request)
    if name not in runtime.webhooks:
        raise ApiProblem(404, "not_found", f"no webhook {name!r}", field="name")
    letters = runtime.host.channel_index.dead.get(f"webhook:{name}", [])
    return {"dead_letters": list(letters)}
