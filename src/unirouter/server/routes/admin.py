"""Configuration (R41, R42), reports (SPEC §8), the event stream, metrics and probes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from unirouter import config as configuration
from unirouter import errors
from unirouter.analytics import tables, windows
from unirouter.config import bounded, dump, locate, model
from unirouter.server import commands, limits, models, wire
from unirouter.server.host import EngineHost, Published, Subscription
from unirouter.server.problems import ApiProblem, problem_response
from unirouter.server.routes._deps import Caller, Host, Limited
from unirouter.storage import RecordKind

__all__ = ["router"]

Role = model.Role
router = APIRouter()
SSE_PAGE = 500
KEEPALIVE_S = 15.0
YAML_TYPE = "application/yaml"
_SECTIONS = (
    "skills",
    "capacity_profiles",
    "calendars",
    "workstreams",
    "queues",
    "agents",
    "presences",
)


# -- configuration ---------------------------------------------------------------------------------


@router.get(
    "/v1/config",
    response_model=models.ConfigOut,
    tags=["configuration"],
    responses={200: {"content": {YAML_TYPE: {"schema": {"type": "string"}}}}},
)
async def get_config(
    caller: Caller, host: Host, accept: Annotated[str | None, Header()] = None
) -> Any:
    """The running configuration and its version. With ``Accept: application/yaml``, the file
    to edit: YAML without the fields left at their defaults (it reads back equal), the version in
    the ``Config-Version`` header."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    engine = host.engine
    if accept is not None and YAML_TYPE in accept:
        version, config = await host.read(lambda: (engine.config_version, engine.config))
        text = await asyncio.to_thread(dump.to_yaml, config)
        return Response(wire.text_bytes(text), media_type=YAML_TYPE,
                        headers={"Config-Version": str(version)})  # fmt: skip
    return await host.read(
        lambda: {"version": engine.config_version, "config": commands.config_json(engine.config)}
    )


DryRun = Annotated[bool, Query(description="Validate and diff only; change nothing")]
AllowDestructive = Annotated[
    bool, Query(description="Apply even a configuration that removes every queue")
]


@router.put(
    "/v1/config",
    response_model=models.ConfigResult,
    tags=["configuration"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def put_config(
    request: Request,
    caller: Caller,
    host: Host,
    bounds: Limited,
    dry_run: DryRun = False,
    allow_destructive: AllowDestructive = False,
) -> Any:
    """Validate a whole configuration (R41) and show its diff against the running one; unless
    ``dry_run``, apply it atomically for the next decision (R42). JSON or YAML bodies, read in
    a worker thread within size, depth and alias bounds (docs/server.md "Limits"). One that
    removes every queue (an empty file does) is refused unless ``allow_destructive``; a dry run
    refuses exactly what an apply would."""
    caller.allow(Role.ADMIN)
    content_type, raw = request.headers.get("content-type", ""), await request.body()
    running = host.engine.config
    new, diff = await request.app.state.config_parser.run(
        lambda: _checked(content_type, raw, running, bounds)
    )
    return await _apply(host, new, dry_run=dry_run, allow_destructive=allow_destructive, diff=diff)


async def _apply(
    host: EngineHost,
    new: model.Config,
    *,
    dry_run: bool,
    allow_destructive: bool,
    diff: dict[str, dict[str, list[str]]] | None = None,
    rollback_of: int | None = None,
) -> dict[str, Any]:
    """The checks an apply makes, then the apply (or, dry, only the checks): the same refusals."""
    engine = host.engine
    if not allow_destructive:
        _refuse_destructive(engine.config, new)
    if diff is None:
        diff = config_diff(engine.config, new)
    extra = {} if rollback_of is None else {"rollback_of": rollback_of}
    if dry_run:

        def checked() -> dict[str, Any]:
            engine.check_config(new)  # what the engine would refuse (R42), nothing applied
            return {"applied": False, "version": engine.config_version, "diff": diff, **extra}

        return await host.read(checked)
    args = {"config": commands.config_json(new), **extra}
    version: int = await host.command("apply_config", args)
    return {"applied": True, "version": version, "diff": diff, **extra}


def _refuse_destructive(old: model.Config, new: model.Config) -> None:
    """An empty configuration, or one that keeps none of the running queues, would leave every
    item nowhere to go: refused (422 naming ``queues``) unless asked for explicitly."""
    if old.queues and not set(old.queues) & set(new.queues):
        raise ApiProblem(
            422, "destructive_configuration",
            f"the configuration removes every queue ({', '.join(sorted(old.queues))}); "
            "send allow_destructive=true (unirouter config apply --allow-destructive) to apply it",
            field="queues",
        )  # fmt: skip


@router.get("/v1/config/versions", tags=["configuration"])
async def config_versions(caller: Caller, host: Host) -> Any:
    """Every configuration version applied, oldest first: ``version``, ``t``, ``actor``,
    ``rollback_of`` and ``kept`` (the newest 50 are kept whole to read and roll back to)."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    return await host.read(lambda: {"current": host.engine.config_version,
                                    "versions": host.config_versions.listing()})  # fmt: skip


@router.get(
    "/v1/config/versions/{version}", response_model=models.ConfigOut, tags=["configuration"]
)
async def config_version(version: int, caller: Caller, host: Host) -> Any:
    """The configuration applied as ``version`` (404 when it was never applied or not kept)."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    return {"version": version, "config": _kept(host, version)}


@router.post(
    "/v1/config/versions/{version}/rollback",
    response_model=models.ConfigResult,
    tags=["configuration"],
)
async def rollback_config(
    version: int,
    caller: Caller,
    host: Host,
    dry_run: DryRun = False,
    allow_destructive: AllowDestructive = False,
) -> Any:
    """Apply the configuration of an earlier ``version`` again, as a new version (R42), with the
    checks of any apply."""
    caller.allow(Role.ADMIN)
    new = configuration.validate(_kept(host, version))
    return await _apply(host, new, dry_run=dry_run, allow_destructive=allow_destructive,
                        rollback_of=version)  # fmt: skip


def _kept(host: EngineHost, version: int) -> dict[str, Any]:
    config = host.config_versions.config(version)
    if config is None:
        raise ApiProblem(404, "not_found", f"no kept configuration of version {version}",
                         field="version")  # fmt: skip
    return config


def _checked(
    content_type: str, raw: bytes, running: model.Config, bounds: limits.Limits
) -> tuple[model.Config, dict[str, dict[str, list[str]]]]:
    """Parse, validate (R41) and diff a configuration body: the part of ``PUT /v1/config`` that
    runs in a worker thread, within the bounds of issue 17 (size, depth, alias expansion)."""
    within = bounded.Bounds(max_depth=bounds.config_depth, max_nodes=bounds.config_nodes)
    text = raw.decode("utf-8", errors="replace")
    try:
        if "yaml" in content_type:
            node, data = bounded.parse_yaml(text, "body", within)
        else:
            node, data = None, bounded.parse_json(text, "body", within)
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        raise ApiProblem(400, "malformed_body", f"the configuration does not parse: {exc}",
                         field="body", line=line) from None  # fmt: skip
    new = _validated(data, node, "yaml" in content_type)
    return new, config_diff(running, new)


def _validated(data: object, node: yaml.Node | None, is_yaml: bool) -> model.Config:
    """R41's validation; for a YAML body every issue also names its ``line`` in the text, so an
    editor can show it where it was written."""
    try:
        return configuration.validate(data)
    except errors.ConfigError as invalid:
        if not is_yaml:
            raise
        issues = [{"field": i.path, "message": i.message, "line": locate.line_in(node, i.path)}
                  for i in invalid.issues]  # fmt: skip
        first = invalid.issues[0].path if invalid.issues else None
        raise ApiProblem(422, "invalid_configuration", str(invalid), field=first,
                         errors=issues) from None  # fmt: skip


def config_diff(old: model.Config, new: model.Config) -> dict[str, dict[str, list[str]]]:
    """Per section, the names added, removed and changed, and under ``fields`` the paths of the
    fields that changed in each changed entry (``billing.members``) (R42 dry run)."""
    before, after = commands.config_json(old), commands.config_json(new)
    out: dict[str, dict[str, list[str]]] = {}
    for section in _SECTIONS:
        a, b = before.get(section, {}), after.get(section, {})
        changed = sorted(n for n in set(a) & set(b) if a[n] != b[n])
        out[section] = {
            "added": sorted(set(b) - set(a)),
            "removed": sorted(set(a) - set(b)),
            "changed": changed,
            "fields": [path for n in changed for path in _changed_fields(a[n], b[n], n)],
        }
    tokens_a = {t["name"]: t for t in before["auth"]["tokens"]}
    tokens_b = {t["name"]: t for t in after["auth"]["tokens"]}
    out["auth.tokens"] = {
        "added": sorted(set(tokens_b) - set(tokens_a)),
        "removed": sorted(set(tokens_a) - set(tokens_b)),
        "changed": sorted(n for n in set(tokens_a) & set(tokens_b) if tokens_a[n] != tokens_b[n]),
    }
    return out


def _changed_fields(a: Any, b: Any, path: str) -> list[str]:
    """The paths under ``path`` where two JSON values differ: into objects by key and lists of
    equal length by index; anything else that differs is one path."""
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b), key=str)
                for p in _changed_fields(a.get(k), b.get(k), f"{path}.{k}")]  # fmt: skip
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True))
                for p in _changed_fields(x, y, f"{path}[{i}]")]  # fmt: skip
    return [path]


# -- reports -----------------------------------------------------------------------------------------


Since = Annotated[
    str | None,
    Query(alias="from", description="Unix seconds or ISO 8601 (default: the log's start)"),
]
Until = Annotated[
    str | None, Query(alias="to", description="Unix seconds or ISO 8601 (default now)")
]
By = Annotated[str | None, Query(description="Intervals: 15m, 1h or 1d (default: none)")]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(description="json (default) or csv; Accept: text/csv asks for csv too"),
]
_REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}}
}


@router.get("/v1/reports/agents", tags=["reports"], responses=_REPORT_RESPONSES)
async def agent_report(
    caller: Caller,
    host: Host,
    start: Since = None,
    end: Until = None,
    by: By = None,
    format: Format = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Occupancy, utilisation, handled, offers, declines, expiries and presence time per agent
    and per ``attributes.group`` (SPEC §8), per interval with ``by``."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    return await _report(host, "agents", (start, end, by), _wants_csv(format, accept))


@router.get("/v1/reports/queues", tags=["reports"], responses=_REPORT_RESPONSES)
async def queue_report(
    caller: Caller,
    host: Host,
    start: Since = None,
    end: Until = None,
    by: By = None,
    format: Format = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Arrived, answered, abandoned, service level, ASA, AHT … in total, per queue and per
    workstream (SPEC §8), per interval with ``by``."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    return await _report(host, "queues", (start, end, by), _wants_csv(format, accept))


def _wants_csv(format: str | None, accept: str | None) -> bool:
    if format is not None:
        return format == "csv"
    return accept is not None and "text/csv" in accept


async def _report(
    host: EngineHost, kind: str, asked: tuple[str | None, str | None, str | None], csv: bool
) -> Any:
    """The report from the host's fold, read in the loop's thread (the fold is fed there) and
    answered once everything it shows is durable."""
    try:
        start, end = windows.parse_time(asked[0], "from"), windows.parse_time(asked[1], "to")
        now = host.now()
        span = host.reports.window(start, end, asked[2], now)
    except windows.InvalidWindow as exc:
        raise ApiProblem(422, "invalid_input", str(exc), field=exc.field) from None
    fold = host.reports
    report = await host.read(
        lambda: fold.agents(span, now) if kind == "agents" else fold.queues(span, now)
    )
    if not csv:
        return report
    csv_text = tables.to_csv(tables.rows(report))
    return Response(wire.text_bytes(csv_text), media_type="text/csv; charset=utf-8")


# -- the audit trail (R43) -----------------------------------------------------------------------------

AUDIT_PAGE = 1000
#: The most log records one audit request reads (so a filter that matches little stays cheap).
AUDIT_SCAN = 20_000
#: Arguments too big or too private for an audit line, shown by what they are instead.
_REDACTED = {"config": "(the whole configuration)", "text": "(message text)",
             "attributes": "(attributes)"}  # fmt: skip


@router.get("/v1/audit", tags=["events"])
async def audit(
    caller: Caller,
    host: Host,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Resume after this cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    actor: Annotated[str | None, Query(description="Only commands of this token name")] = None,
    item: Annotated[str | None, Query(description="Only commands naming this item")] = None,
    op: Annotated[str | None, Query(description="Only this command (assign, transfer, …)")] = None,
) -> Any:
    """Who did what: the logged commands, oldest first, each with its cursor, time, command,
    arguments (the configuration and message texts left out), the token name that ran it
    (``actor``; none for the server's own timers and liveness) and whether it was refused.
    ``next_after`` resumes where this page stopped."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    found, last = await asyncio.to_thread(_audit_page, host, after, limit, (actor, item, op))
    return {"entries": found, "next_after": last}


def _audit_page(
    host: EngineHost, after: int, limit: int, wanted: tuple[str | None, str | None, str | None]
) -> tuple[list[dict[str, Any]], int]:
    found: list[dict[str, Any]] = []
    last = after
    while len(found) < limit and last - after < AUDIT_SCAN:
        page = host.store.read(last, AUDIT_PAGE)
        for record in page:
            last = record.cursor
            if record.kind is RecordKind.COMMAND:
                entry = _audit_entry(record.cursor, json.loads(record.body))
                if _audit_match(entry, wanted):
                    found.append(entry)
                    if len(found) == limit:
                        break
        if len(page) < AUDIT_PAGE:
            break
    return found, last


def _audit_entry(cursor: int, command: dict[str, Any]) -> dict[str, Any]:
    args = {k: _REDACTED.get(k, v) if k in _REDACTED else v
            for k, v in command.get("args", {}).items()}  # fmt: skip
    return {"cursor": cursor, "t": command.get("t"), "op": command.get("op"),
            "actor": command.get("actor"), "args": args, "refused": command.get("refused")}  # fmt: skip


def _audit_match(entry: dict[str, Any], wanted: tuple[str | None, str | None, str | None]) -> bool:
    actor, item, op = wanted
    return (
        (actor is None or entry["actor"] == actor)
        and (item is None or item in (entry["args"].get("item"), entry["args"].get("item_id")))
        and (op is None or entry["op"] == op)
    )


# -- the event stream --------------------------------------------------------------------------------

#: The largest cursor a store holds (a signed 64-bit integer, what every database stores).
MAX_CURSOR = 2**63 - 1


@router.get(
    "/v1/events",
    tags=["events"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(
    caller: Caller,
    host: Host,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_CURSOR, description="Resume after this cursor")
    ] = None,
    follow: Annotated[bool, Query(description="Keep streaming new events")] = True,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Every durable event as server-sent events (``id:`` is the log cursor): resumable with
    ``?after=CURSOR`` or ``Last-Event-ID``."""
    caller.allow(Role.ADMIN, Role.SUPERVISOR)
    start = after if after is not None else _cursor(last_event_id)
    stream = _sse(host, start, follow)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


def _cursor(value: str | None) -> int:
    """The ``Last-Event-ID`` header as a cursor; anything but 0 … MAX_CURSOR is a field-named 422."""
    if value is None:
        return 0
    try:
        cursor = int(value)
    except ValueError:
        cursor = -1
    if not 0 <= cursor <= MAX_CURSOR:
        raise ApiProblem(422, "invalid_input", "Last-Event-ID must be a cursor",
                         field="last-event-id")  # fmt: skip
    return cursor


async def _sse(host: EngineHost, after: int, follow: bool) -> AsyncIterator[bytes]:
    sub = host.subscribe(lambda r: r.kind is RecordKind.EVENT)
    try:
        last = after
        while True:  # the backlog, from the store
            page = await asyncio.to_thread(host.store.read, last, SSE_PAGE)
            for record in page:
                if record.kind is RecordKind.EVENT:
                    body = json.loads(record.body)
                    data = wire.stored_json(record.body, body)
                    yield wire.sse_frame(record.cursor, str(body.get("type", "event")), data)
            if page:
                last = page[-1].cursor
            if len(page) < SSE_PAGE:
                break
        while follow:  # then live, skipping what the backlog already sent
            batch = await _next_batch(sub)
            if not batch:
                yield b": keep-alive\n\n"
                continue
            frames = []
            for live in batch:
                if live is None or sub.overflowed:
                    return
                if live.cursor > last:
                    last = live.cursor
                    frames.append(wire.sse_frame(last, str(live.body.get("type", "event")),
                                                 live.data))  # fmt: skip
            if frames:
                yield b"".join(frames)
    finally:
        host.unsubscribe(sub)


async def _next_batch(sub: Subscription) -> list[Published | None]:
    """Every record waiting for this reader, at least one (none after KEEPALIVE_S of quiet).

    One wake-up and one write per reader for all the events of an append (an intake makes
    several), not one each: with hundreds of readers the loop's work per event is what delays
    every other request (issue 17 item 8)."""
    if sub.queue.empty():
        try:
            async with asyncio.timeout(KEEPALIVE_S):
                first = await sub.queue.get()
        except TimeoutError:
            return []
    else:
        first = sub.queue.get_nowait()
    batch = [first]
    while not sub.queue.empty() and first is not None:
        batch.append(sub.queue.get_nowait())
    return batch


# -- operations ----------------------------------------------------------------------------------------


@router.get("/metrics", tags=["operations"], response_class=Response)
async def metrics(host: Host) -> Response:
    """Prometheus metrics: queue gauges, command and event counters, append latency."""
    return Response(generate_latest(host.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"])
async def readyz(host: Host, request: Request) -> Any:
    """Ready: the log was replayed and the store takes writes; on several servers also whether
    this one leads or follows, the term, the leader's URL and the follower's lag in records."""
    await host.verify_store()
    if host.failure is not None:
        cause = host.failure.__cause__ or host.failure
        return problem_response(503, "unavailable", f"the log could not be written: {cause}")
    if host.stopping or not host.replayed:
        return problem_response(503, "unavailable", "the server is not serving")
    last = await asyncio.to_thread(host.store.last_cursor)
    ready: dict[str, Any] = {"status": "ready", "cursor": last, "role": "leader"}
    cluster = getattr(request.app.state, "cluster", None)
    if cluster is not None:  # several servers (PostgreSQL): who leads, and how far behind this is
        ready |= {"role": cluster.role, "term": cluster.term, "leader": cluster.leader_url,
                  "applied": host.durable_cursor, "lag": max(0, last - host.durable_cursor)}  # fmt: skip
    return ready
