"""What every route needs: the host, the caller, and input checks the models cannot express."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from unirouter import wellformed
from unirouter.server import host as hosting
from unirouter.server import models
from unirouter.server.auth import Authenticator, Principal
from unirouter.server.host import EngineHost
from unirouter.server.limits import Limits, RateLimiter
from unirouter.server.problems import ApiProblem

__all__ = ["Auth", "Caller", "Host", "Limited", "Rates", "check_input", "check_size", "check_value"]

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
    caller = await auth.authenticate(request)
    await check_input(request)
    hosting.ACTOR.set(caller.name)  # the request's commands are logged with their actor (R43)
    return caller


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
    if value is None or (not value and limit >= 2):  # {} or []: two bytes, nothing to encode
        return
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > limit:
        raise ApiProblem(
            422, "attributes_too_large", f"{field} is {size} bytes as JSON; the limit is {limit}",
            field=field, limit=limit,
        )  # fmt: skip


async def check_input(request: Request) -> None:
    """Issue 17 items 1 and 3, SPEC §10: a JSON body, query or path parameter holding text that
    is not valid Unicode (a lone surrogate), a non-finite number or nesting deeper than
    :data:`~unirouter.wellformed.MAX_DEPTH` is refused with a 422 naming the field, before
    anything runs. Called once the caller is known, so a request without a token still gets 401.

    The body is the one FastAPI parsed for the route (Starlette keeps it on the request); a body
    that does not parse is left to the route, which answers 400 naming the body."""
    for name, value in (*request.query_params.multi_items(), *request.path_params.items()):
        check_value({name: value}, max_depth=None)
    if not _is_json(request.headers.get("content-type", "")) or not await request.body():
        return
    try:
        data = await request.json()
    except RecursionError:
        raise ApiProblem(400, "malformed_json", "the request body nests too deep to read",
                         field="body") from None  # fmt: skip
    except ValueError:
        return
    check_value(data)


def check_value(value: Any, *, max_depth: int | None = wellformed.MAX_DEPTH) -> None:
    """Refuse ``value`` (a decoded body) with a field-named 422 if it cannot be kept (issue 17)."""
    flaw = wellformed.first_flaw(value, max_depth=max_depth)
    if flaw is None:
        return
    field = flaw.field or "body"
    issues = [{"field": field, "message": flaw.message}]
    raise ApiProblem(422, flaw.kind.value, f"{field} {flaw.message}", field=field, errors=issues)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")
