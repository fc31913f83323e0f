"""What every route needs: the host, the caller, and input checks the models cannot express."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from unirouter.server import models
from unirouter.server.auth import Authenticator, Principal
from unirouter.server.host import EngineHost
from unirouter.server.limits import Limits, RateLimiter
from unirouter.server.problems import ApiProblem

__all__ = ["Auth", "Caller", "Host", "Limited", "Rates", "check_size"]

# Every dependency is ``async def`` even when it never awaits: FastAPI runs a plain ``def`` one in
# a worker thread, a thread hand-off per request for a one-line attribute read.

_bearer = HTTPBearer(
    auto_error=False, description="A token of role admin, supervisor, agent or intake."
)


async def _host(request: Request) -> EngineHost:
    host: EngineHost = request.app.state.host
    return host


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    auth: Authenticator = request.app.state.auth
    return await auth.authenticate(request)


async def _auth(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


async def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


async def _rates(request: Request) -> RateLimiter:
    rates: RateLimiter = request.app.state.rates
    return rates


Auth = Annotated[Authenticator, Depends(_auth)]
Limited = Annotated[Limits, Depends(_limits)]
Rates = Annotated[RateLimiter, Depends(_rates)]
Host = Annotated[EngineHost, Depends(_host)]
Caller = Annotated[Principal, Depends(_caller)]


def check_size(value: Any, field: str, limit: int = models.ATTRIBUTES_LIMIT) -> None:
    """SPEC §10: an attributes object over 64 KiB (as JSON) is refused, naming the field."""
    if value is None:
        return
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > limit:
        raise ApiProblem(
            422, "attributes_too_large", f"{field} is {size} bytes as JSON; the limit is {limit}",
            field=field, limit=limit,
        )  # fmt: skip
