"""``GET /v1/me``: who a token is, so that a client (the sign-in page) can open what its role allows;
``GET /v1/tokens`` and ``DELETE /v1/tokens/{id}``: the tokens ``token create`` made, listed and
revoked by an admin (issue 17 item 7)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from unirouter.config import model
from unirouter.server import auth
from unirouter.server.routes._deps import Caller, Host

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


class TokenOut(BaseModel):
    id: str
    name: str
    role: model.Role
    agent: str | None = None
    created_at: str | None = None


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(caller: Caller, host: Host) -> Any:
    """The tokens made by ``unirouter token create``, by id (the first 16 hex digits of their
    SHA-256); the tokens themselves are never stored. Tokens of the configuration are not listed."""
    caller.allow(model.Role.ADMIN)
    found = await asyncio.to_thread(auth.list_tokens, host.store)
    return [t.as_json() for t in found]


@router.delete("/tokens/{token_id}", response_model=TokenOut)
async def revoke_token(token_id: str, caller: Caller, host: Host) -> Any:
    """Revoke a token made by ``token create``: durable on return; it answers 401 from the next
    request on, on every server of the store. 404 for an unknown id."""
    caller.allow(model.Role.ADMIN)
    revoked = await asyncio.to_thread(auth.revoke_token, host.store, token_id)
    return revoked.as_json()
