"""SPEC §10 against the published contract: schemathesis reads ``/openapi.json`` of a real
``unirouter serve`` and sends valid and invalid requests to every operation with an admin token.
No request may get a 5xx, and every answer must match the schema (status code documented, body
and content type as declared).

SPEC §6.3 per role (issue 17, test blind spots): the same fuzz, with fewer examples, runs again
with a supervisor, an agent (alice), a conversation's customer token and no token. Besides the
checks above, every 401/403 is a problem answer, a request without a token to an operation that
declares a bearer security gets 401, a customer token reaches nothing but its own item (401
elsewhere), and no role ever gets a 2xx from an operation whose gate leaves it out. The gates are
read from the routes themselves (each endpoint's top-level ``caller.allow(...)`` or
``caller.act_as(...)``, and the non-agent branch of ``if caller.role is Role.AGENT``), so a check
loosened inside :mod:`unirouter.server.auth` is caught; the derivation is itself pinned to a few
rows of the SPEC's role list.

Stateful (issue 17): schemathesis's state machine chains calls along the links it infers from the
document (a listed item's id into that item's get and patch, ...), with the admin token and the
same checks; the run must carry at least one id an earlier answer gave. No explicit ``links`` are
declared: intake (``POST /v1/work-items``) is not among the machine's entry points, so links from
it would never be followed.

Generated path ids are mostly unknown (404). To reach real transitions too, an id is mapped, by a
stable hash of what schemathesis drew, onto one of a few seeded items, agents, queues or offers
about half of the time.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from fastapi.routing import APIRoute
from hypothesis import settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from server_support import CONFIG, TOKENS, Server, start_server, submit

from unirouter import config as configuration
from unirouter.channels import routes as channel_routes
from unirouter.config.model import Role
from unirouter.server import EngineHost, create_app
from unirouter.server.routes import admin, agents, items, session, stream
from unirouter.storage import MemoryStore

EXAMPLES = 25
#: Per role: few, so that the four extra runs stay well under a minute on two cores.
ROLE_EXAMPLES = 4
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, dict[str, list[str]]]]:
    """A server with a few items in every state a path id may land on."""
    folder = tmp_path_factory.mktemp("schemathesis")
    (folder / "config.yaml").write_text(CONFIG)
    server = start_server(folder / "u.db", folder / "config.yaml")
    intake, alice = server.client("intake"), server.client("alice")
    items = [
        submit(intake, f"fz-{n}", ws)
        for n, ws in enumerate(["chat", "chat", "social", "email"] * 2)
    ]
    offers = [i["offer"]["id"] for i in items if i.get("offer")]
    if offers:
        alice.post(f"/v1/offers/{offers[0]}/accept")
    conversation = next(i for i in items if i.get("customer_token"))
    known = {
        "item_id": [i["id"] for i in items],
        "offer_id": offers,
        "agent_id": ["alice", "bob"],
        "name": ["chat_q", "social_q", "email_q", "other_chat"],
        "customer": [conversation["id"], conversation["customer_token"]],
    }
    yield server, known
    server.stop()


def _app() -> Any:
    """The app the server runs, built in-process so that pytest can collect one test per
    operation before any server runs (its OpenAPI document is checked equal to the served one)."""
    host = EngineHost(MemoryStore())
    host.restore(configuration.validate(yaml.safe_load(CONFIG)))
    return create_app(host)


APP = _app()
DOCUMENT = APP.openapi()


def _schema(examples: int) -> Any:
    generation = {"mode": "all", "max-examples": examples}
    return schemathesis.openapi.from_dict(
        DOCUMENT, config=SchemathesisConfig.from_dict({"generation": generation})
    )


schema = _schema(EXAMPLES)
role_schema = _schema(ROLE_EXAMPLES)


def _roles(args: list[ast.expr], namespace: dict[str, Any]) -> frozenset[Role]:
    """The roles the arguments of a ``caller.allow(...)`` name, evaluated in the endpoint's
    module (``Role.ADMIN``, ``model.Role.ADMIN``, ``*STAFF``, ``*Role``)."""
    named: set[Role] = set()
    for arg in args:
        starred = isinstance(arg, ast.Starred)
        source = ast.unparse(arg.value if isinstance(arg, ast.Starred) else arg)
        value = eval(source, namespace)
        found = list(value) if starred else [value]
        assert all(isinstance(r, Role) for r in found), ast.unparse(arg)
        named.update(found)
    return frozenset(named)


@dataclass(frozen=True)
class Gate:
    """Who an operation lets through: ``roles`` (non-agent tokens; ``None``: not known here),
    and for an agent token, the parameter naming the agent it must act as (if known)."""

    roles: frozenset[Role] | None
    agent_param: str | None = None


def _gate(endpoint: Any) -> Gate:
    """The gate an endpoint's own top-level statements set (SPEC §6.3)."""
    function = ast.parse(textwrap.dedent(inspect.getsource(endpoint))).body[0]
    namespace = endpoint.__globals__
    assert isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef)
    for statement in function.body:
        if isinstance(statement, ast.If) and ast.unparse(statement.test) == (
            "caller.role is Role.AGENT"
        ):
            for other in statement.orelse:
                call = getattr(other, "value", None)
                if isinstance(call, ast.Call) and ast.unparse(call.func) == "caller.allow":
                    # Agents have their own branch: the gate holds the others.
                    return Gate(_roles(call.args, namespace) | {Role.AGENT})
            continue
        call = getattr(statement, "value", None)
        if not isinstance(call, ast.Call):
            continue
        if ast.unparse(call.func) == "caller.allow":
            return Gate(_roles(call.args, namespace))
        if ast.unparse(call.func) == "caller.act_as":
            first = call.args[0]
            roles = _roles(call.args[1:], namespace)
            param = first.id if isinstance(first, ast.Name) else None
            return Gate(roles | {Role.AGENT}, param)
    return Gate(None)


GATES = {
    (method.lower(), route.path): _gate(route.endpoint)
    for module in (items, agents, admin, stream, session, channel_routes)
    for route in module.router.routes
    if isinstance(route, APIRoute)
    for method in route.methods
}


def test_the_fuzzed_document_is_the_served_openapi_json(
    fuzzed: tuple[Server, dict[str, list[str]]],
) -> None:
    """SPEC §6.3: the OpenAPI document at /openapi.json is the one fuzzed here."""
    server, _known = fuzzed
    assert httpx.get(server.url + "/openapi.json", timeout=10).json() == DOCUMENT


def _known_or_drawn(drawn: Any, choices: list[str]) -> Any:
    """A seeded id for about half of the drawn values (stable: the same draw maps the same way)."""
    if not choices or not isinstance(drawn, str):
        return drawn
    slot = hashlib.sha256(drawn.encode("utf-8", "replace")).digest()[0] % (2 * len(choices))
    return choices[slot] if slot < len(choices) else drawn


def _prepare(case: schemathesis.Case, known: dict[str, list[str]]) -> None:
    for name, value in (case.path_parameters or {}).items():
        case.path_parameters[name] = _known_or_drawn(value, known.get(name, []))
    if case.path == "/v1/events" and isinstance(case.query, dict):
        case.query["follow"] = "false"  # a followed stream never ends
    if case.path.endswith("/messages") and isinstance(case.query, dict) and "wait_s" in case.query:
        case.query["wait_s"] = (
            "0"  # a long poll waits for a message nobody sends; its bound is tested apart
        )


@schema.parametrize()
def test_no_input_gets_a_5xx_or_an_answer_off_the_schema(
    case: schemathesis.Case, fuzzed: tuple[Server, dict[str, list[str]]]
) -> None:
    """SPEC §10: no input makes the server answer 5xx; answers follow /openapi.json."""
    server, known = fuzzed
    _prepare(case, known)
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    response = case.call_and_validate(
        base_url=server.url, headers=headers, checks=CHECKS, timeout=10
    )
    STATUSES[response.status_code] += 1


#: Statuses of a request whose body is refused before anything else is read.
UNREAD = (400, 413)
#: The callers of the per-role runs: a token's name in TOKENS, the customer, or no token.
CALLERS = {"supervisor": Role.SUPERVISOR, "alice": Role.AGENT, "customer": None, "nobody": None}


@pytest.mark.parametrize("who", list(CALLERS))
@role_schema.parametrize()
def test_every_role_gets_no_5xx_and_nothing_beyond_its_role(
    case: schemathesis.Case, fuzzed: tuple[Server, dict[str, list[str]]], who: str
) -> None:
    """SPEC §6.3 and §10, per role: no 5xx, answers follow /openapi.json, refusals are 401/403
    problem answers, no token gets 401, and no 2xx comes from an operation the role is not let
    into (nor, for an agent, acting as another agent; for a customer, on another item)."""
    server, known = fuzzed
    _prepare(case, known)
    if who == "alice" and "agent_id" in (case.path_parameters or {}):
        case.path_parameters["agent_id"] = "bob"  # always another agent: must be refused
    own_item, customer_token = known["customer"]
    token = {"customer": customer_token, "nobody": None}.get(who, TOKENS.get(who))
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = case.call_and_validate(
        base_url=server.url, headers=headers, checks=CHECKS, timeout=10
    )
    status, kind = response.status_code, str(response.headers.get("content-type", ""))
    if status in (401, 403):
        assert "application/problem+json" in kind, (status, kind)
    operation = DOCUMENT["paths"][case.path].get(case.method.lower())
    if operation is None or "security" not in operation:
        return  # a method the path does not have (405), or an open operation
    gate = GATES.get((case.method.lower(), case.path), Gate(None))
    path = case.path_parameters or {}
    # A body that is not even JSON (400) or too large (413) is refused before the caller is known.
    refused = (401, *UNREAD)
    if who == "nobody":
        assert status in refused, f"{case.method} {case.path} without a token answered {status}"
        return
    if who == "customer":
        if path.get("item_id") != own_item:
            assert status in refused, f"{case.method} {case.path}: other item's token: {status}"
        return
    role = CALLERS[who]
    if status >= 300:
        return
    assert gate.roles is None or role in gate.roles, (
        f"{who} ({role}) got {status} from {case.method} {case.path}, open to {gate.roles}"
    )
    if role is Role.AGENT and gate.agent_param is not None:
        acted = path.get(gate.agent_param, (case.query or {}).get(gate.agent_param, who))
        assert acted == who, f"{who} got {status} acting as {acted!r} on {case.path}"


def test_the_role_gates_are_read_from_the_routes() -> None:
    """The gates the per-role run holds every role to are the ones SPEC §6.3 states: the
    configuration is admin's, intake is intake's and admin's, assignment is supervisor's."""
    assert GATES[("put", "/v1/config")].roles == {Role.ADMIN}
    assert GATES[("post", "/v1/work-items")].roles == {Role.INTAKE, Role.ADMIN}
    assert GATES[("post", "/v1/work-items/{item_id}/assign")].roles == {Role.SUPERVISOR, Role.ADMIN}
    assert GATES[("get", "/v1/agents/{agent_id}")].agent_param == "agent_id"
    assert GATES[("get", "/v1/tokens")].roles == {Role.ADMIN}
    known = [g for g in GATES.values() if g.roles is not None]
    assert len(known) >= 25


STATUSES: Counter[int] = Counter()


def test_the_fuzzing_reached_both_successes_and_refusals() -> None:
    """The run above is meaningful: it got past validation into real transitions, and was
    refused too (runs after the fuzz test, in file order)."""
    if not STATUSES:
        pytest.skip("runs with the fuzz test")
    print(f"\nschemathesis statuses: {dict(sorted(STATUSES.items()))}")
    assert sum(n for status, n in STATUSES.items() if status < 300) >= 50
    assert STATUSES[404] and STATUSES[422] and STATUSES[409]


def test_a_report_window_ending_far_in_the_future_answers_at_once(
    fuzzed: tuple[Server, dict[str, list[str]]],
) -> None:
    """SPEC §10 (found by this fuzzing): `to=1e12` once made the report build decades of empty
    KPI slots and stalled the server; the window now ends at now."""
    server, _known = fuzzed
    response = server.client("admin").get("/v1/reports/agents", params={"to": 1e12}, timeout=10)
    assert response.status_code == 200
    assert response.json()["to"] < 1e12


def test_an_event_cursor_beyond_what_a_store_holds_is_a_field_named_422(
    fuzzed: tuple[Server, dict[str, list[str]]],
) -> None:
    """SPEC §10 (found by this fuzzing): `after=2**63` reached the store inside the event stream,
    after the 200 had gone out, and broke the connection; it is now refused at the edge."""
    server, _known = fuzzed
    admin = server.client("admin")
    too_far = admin.get("/v1/events", params={"after": 2**63, "follow": "false"})
    assert too_far.status_code == 422 and too_far.json()["field"] == "after"
    header = admin.get(
        "/v1/events", params={"follow": "false"}, headers={"Last-Event-ID": str(2**63)}
    )
    assert header.status_code == 422 and header.json()["field"] == "last-event-id"
    last = admin.get("/v1/events", params={"after": 2**63 - 1, "follow": "false"})
    assert last.status_code == 200 and last.text == ""


def test_stateful_runs_over_the_openapi_links_get_no_5xx_nor_an_answer_off_the_schema(
    fuzzed: tuple[Server, dict[str, list[str]]],
) -> None:
    """SPEC §10, stateful (issue 17): schemathesis chains calls along the links it infers from
    /openapi.json (a listed item's id into get and patch of that item, and so on), admin; some
    calls must carry an id an earlier answer of the run gave."""
    server, known = fuzzed
    machine = schema.as_state_machine()

    created: set[str] = set()  # ids seen in the run's answers
    linked: Counter[str] = Counter()

    class Chained(machine):  # type: ignore[misc,valid-type]
        def before_call(self, case: schemathesis.Case) -> None:
            drawn = (case.path_parameters or {}).get("item_id")
            if drawn in created:  # a drawn string is never an id: a link carried it
                linked[f"{case.method} {case.path}"] += 1
            else:
                _prepare(case, known)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
            return {"base_url": server.url, "headers": headers, "timeout": 10}

        def validate_response(
            self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)
            if response.status_code < 300 and "json" in str(response.headers.get("content-type")):
                body = response.json()
                rows = body.get("items", [body]) if isinstance(body, dict) else body
                created.update(r["id"] for r in rows if isinstance(r, dict) and "id" in r)

    Chained.run(settings=settings(max_examples=40, stateful_step_count=8, deadline=None))
    print(f"\nlinked calls: {dict(linked)}, created {len(created)}")
    assert linked, "no call followed a link from an intake answer"
