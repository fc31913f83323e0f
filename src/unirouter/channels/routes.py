"""HTTP routes of the channels: what runs (``GET /v1/channels``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from unirouter.channels.runtime import Runtime
from unirouter.config import model
from unirouter.server.routes._deps import Caller

__all__ = ["router"]

router = APIRouter(tags=["channels"])


def runtime_of(request: Request) -> Runtime:
    found: Runtime = request.app.state.channels
    return found


@router.get("/v1/channels")
async def get_channels(request: Request, caller: Caller) -> dict[str, Any]:
    """The channel adapters running in this server and their listening addresses."""
    caller.allow(model.Role.ADMIN, model.Role.SUPERVISOR)
    return runtime_of(request).describe()
