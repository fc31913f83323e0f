"""``GET /v1/me``: who a token is, so that a client (the sign-in page) can open what its role allows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from unirouter.config import model
from unirouter.server.routes._deps import Caller

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["session"])


class MeOut(BaseModel):
    name: str
    role: model.Role
    agent: str | None = None


@router.get("/me", response_model=MeOut)
async def me(caller: Caller) -> Any:
    """The caller's token: its name, role and (for an agent token) agent. 401 if not valid."""
    return {"name": caller.name, "role": caller.role, "agent": caller.agent}
