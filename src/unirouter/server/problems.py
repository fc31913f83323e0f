"""RFC 9457 problem responses, and the one table from error classes to HTTP statuses (STYLE 2).

Every error body is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``,
the offending ``field`` when there is one, ``errors`` (a list of ``{field, message}``) for invalid
input, and the error's structured fields (ids, states) as extension members.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from unirouter import errors, storage
from unirouter.server.host import HostStopped
from unirouter.server.wire import JSONResponse

__all__ = ["MEDIA_TYPE", "STATUS", "ApiProblem", "install", "problem_response"]

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:unirouter:problem:"

#: Status and problem code of each error family, looked up along the class hierarchy.
STATUS: dict[type[Exception], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.OfferNotOpen: (409, "offer_not_open"),
    errors.AlreadyClaimed: (409, "already_claimed"),
    errors.Conflict: (409, "conflict"),
    errors.NotEligible: (409, "not_eligible"),
    errors.InvalidCommand: (422, "invalid_command"),
    errors.ConfigTooComplex: (422, "configuration_too_complex"),
    errors.ConfigError: (422, "invalid_configuration"),
    HostStopped: (503, "unavailable"),
    # A write the store could not make durable (a lost or closed store): never acknowledged.
    storage.CommitFailed: (503, "unavailable"),
    storage.StoreLost: (503, "unavailable"),
    storage.StoreClosed: (503, "unavailable"),
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """An error the HTTP layer raises itself (auth, size limits, input checks)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.headers = headers
        self.extra = extra
        super().__init__(detail)


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; ``extra`` members are the error's structured fields."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    body.update({k: _plain(v) for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(error: Exception) -> tuple[int, str]:
    for family in type(error).__mro__:
        if family in STATUS:
            return STATUS[family]
    return 500, "internal"


def from_error(error: Exception) -> JSONResponse:
    """The problem response of an error the engine or the host raised."""
    status, code = status_of(error)
    if isinstance(error, errors.ConfigError):
        issues = [{"field": i.path, "message": i.message} for i in error.issues]
        field = issues[0]["field"] if issues else None
        bound: dict[str, Any] = {}
        if isinstance(error, errors.ConfigTooComplex):
            bound = {"limit_name": error.limit_name, "limit": error.limit, "line": error.line}
        return problem_response(status, code, str(error), field=field, errors=issues, **bound)
    if isinstance(error, errors.CommandError):
        fields: dict[str, Any] = {_RENAMED.get(k, k): v for k, v in error.fields.items()}
        named = fields.pop("field", None)
        field = None if named is None else str(named)
        return problem_response(status, code, error.message, field=field, **fields)
    if status == 500:
        return problem_response(500, "internal", "the server failed to handle this request")
    return problem_response(status, code, str(error))


#: Error fields that would clash with the problem members keep their meaning under another name.
_RENAMED = {"status": "state", "type": "kind", "title": "name", "detail": "details"}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


#: Steps of a validation location that name the validator's type, not the request's field.
_TYPE_TAGS = frozenset({"float", "int", "str", "bool", "datetime", "date", "list", "dict", "none"})


def _field(loc: tuple[Any, ...]) -> str:
    """``("body", "attributes", "x")`` → ``attributes.x``; ``("query", "limit")`` → ``limit``;
    ``("body", "skills", 0, "level")`` → ``skills[0].level``. The branches a union was tried as
    (``available_at.float``, ``…datetime``) are the validator's names, not fields: left out."""
    steps = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif str(step) in _TYPE_TAGS or "[" in str(step) or "(" in str(step):
            continue
        else:
            out += f".{step}" if out else str(step)
    return out or "body"


def _merged(issues: list[dict[str, str]]) -> list[dict[str, str]]:
    """One issue per field: a union's branches that all failed read as one sentence."""
    by_field: dict[str, list[str]] = {}
    for issue in issues:
        by_field.setdefault(issue["field"], []).append(issue["message"])
    return [{"field": f, "message": " or ".join(dict.fromkeys(m))} for f, m in by_field.items()]


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = _merged(
        [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    )
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        detail = "the request body is not valid JSON"
        return problem_response(400, "malformed_json", detail, field="body", errors=issues)
    detail = "; ".join(f"{i['field']}: {i['message']}" for i in issues)
    return problem_response(422, "invalid_input", detail, field=issues[0]["field"], errors=issues)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc.status, exc.code, exc.detail, field=exc.field,
                            headers=exc.headers, **exc.extra)  # fmt: skip


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = None if exc.headers is None else dict(exc.headers)
    # A 400 from the framework is a body it could not read (nested too deep for the parser, a
    # number of too many digits): it names the body, as every 400 names its field (issue 17).
    field = "body" if exc.status_code == 400 else None
    return problem_response(exc.status_code, code, str(exc.detail), field=field, headers=headers)


async def _engine(request: Request, exc: Exception) -> JSONResponse:
    return from_error(exc)


def install(app: Any) -> None:
    """Register the handlers that turn every error into a problem response."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(errors.UnirouterError, _engine)
