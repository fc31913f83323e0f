"""A hostile probe of a real ``unirouter serve`` (issue 17): counts, never a pass/fail.

Starts ``unirouter serve`` on 127.0.0.1 (port 0) with a temporary SQLite file and a small
configuration with a token of every role, then runs and counts:

1. the authorisation matrix: every operation of ``/openapi.json`` with every role's token (and
   none) and a minimal body; an escalation is a 2xx for a role the route's own ``allow`` /
   ``act_as`` calls (read from the route source) do not name, or, for another agent's token
   (``bob``), a 2xx on alice's agent, item or offer;
2. bad inputs to every JSON-body operation: a lone surrogate, ``NaN`` / ``Infinity``, nesting
   100,000 deep, a body over 1 MiB and a 100 KB header; an anomaly is a 5xx or no answer in 10 s,
   and afterwards any listing that no longer answers 200;
3. SIGKILLs under load: intakes sent in a loop, the server killed at a random moment and
   restarted on the same file; an anomaly is an acknowledged (201) item that is gone;
4. races: two agents picking one waiting item at once; an anomaly is both succeeding or the item
   held by another agent than the one answered 2xx.

Prints one table (category, cases, anomalies) and the anomalies found; exits 0.

    PYTHONPATH=src python bench/probe.py [--kills 10] [--races 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import random
import signal
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from unirouter.server import auth, spawn

TOKENS = {
    "admin": "p-admin-secret",
    "supervisor": "p-supervisor-secret",
    "intake": "p-intake-secret",
    "agent": "p-alice-secret",
    "bob": "p-bob-secret",
}
ROLE_OF = {"admin": "ADMIN", "supervisor": "SUPERVISOR", "intake": "INTAKE", "agent": "AGENT"}


CONFIG = f"""
version: 1
capacity_profiles: {{chat: {{limit: 2}}}}
workstreams:
  chat:
    kind: messaging
    mode: push
    capacity: {{units: 10}}
    offer: {{timeout_s: 600}}
    fallback_queue: chat_q
  social:
    kind: messaging
    mode: pick
    capacity: {{units: 1}}
    skill_match: none
    fallback_queue: social_q
  email:
    kind: record
    capacity: {{units: 1}}
    fallback_queue: email_q
queues:
  chat_q: {{kind: messaging, members: [alice, bob]}}
  social_q: {{kind: messaging, members: [alice, bob]}}
  email_q: {{kind: record, members: [bob]}}
agents:
  alice: {{}}
  bob: {{}}
auth:
  tokens:
    - {{name: admin, role: admin, sha256: {auth.digest(TOKENS["admin"])}}}
    - {{name: supervisor, role: supervisor, sha256: {auth.digest(TOKENS["supervisor"])}}}
    - {{name: intake, role: intake, sha256: {auth.digest(TOKENS["intake"])}}}
    - {{name: alice, role: agent, agent: alice, sha256: {auth.digest(TOKENS["agent"])}}}
    - {{name: bob, role: agent, agent: bob, sha256: {auth.digest(TOKENS["bob"])}}}
"""

TIMEOUT = 10.0


class Server(spawn.Served):
    """One ``unirouter serve`` subprocess on a SQLite file."""

    def __init__(self, db: Path, config: Path | None) -> None:
        args = ["--db", str(db), *(["--config", str(config)] if config is not None else [])]
        served = spawn.serve(*args, keep_stderr=False)
        super().__init__(process=served.process, url=served.url)

    def client(self, who: str | None = "admin") -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {TOKENS[who]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=TIMEOUT)


# -- the server's own role table -----------------------------------------------------------------


def _role_table() -> dict[tuple[str, str], tuple[set[str] | None, bool]]:
    """``(METHOD, path) -> (roles, own_only)`` read from each route's source: the ``Role.X`` its
    ``allow`` and ``act_as`` calls name (and those of the module's helpers it calls), ``act_as``
    adding AGENT for the agent's own records; ``None`` for a route with no caller (public)."""
    from fastapi.routing import APIRoute

    import unirouter.server  # noqa: F401  (first: the channels' modules import it)
    from unirouter.channels import messaging, portal, widget
    from unirouter.channels import routes as channel_routes
    from unirouter.server.routes import admin, agents, items, session

    table: dict[tuple[str, str], tuple[set[str] | None, bool]] = {}
    for module in (admin, agents, items, session, channel_routes, messaging, portal, widget):
        tree = ast.parse(inspect.getsource(module))
        functions = {
            f.name: f
            for f in ast.walk(tree)
            if isinstance(f, ast.AsyncFunctionDef | ast.FunctionDef)
        }
        for route in module.router.routes:
            if not isinstance(route, APIRoute):
                continue
            node = functions[route.endpoint.__name__]
            if "caller" not in inspect.signature(route.endpoint).parameters:
                roles: set[str] | None = None
                own = False
            else:
                roles, own = _roles_in(node, functions, set(), module)
                if not _calls_allow(node, functions):
                    roles = set(ROLE_OF.values())  # any token: the authentication is the check
            for method in route.methods:
                table[(method, route.path)] = (roles, own)
    return table


def _calls_allow(node: ast.AST, functions: dict[str, Any], depth: int = 0) -> bool:
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Attribute) and call.func.attr in ("allow", "act_as"):
                return True
            if (
                isinstance(call.func, ast.Name)
                and call.func.id in functions
                and depth < 3
                and _calls_allow(functions[call.func.id], functions, depth + 1)
            ):
                return True
    return False


def _roles_in(
    node: ast.AST, functions: dict[str, Any], seen: set[str], module: Any
) -> tuple[set[str], bool]:
    roles: set[str] = set()
    own = False
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in ("allow", "act_as"):
            if func.attr == "act_as":
                roles.add("AGENT")
                own = True
            for arg in call.args:
                if isinstance(arg, ast.Starred) and isinstance(arg.value, ast.Name):
                    named = getattr(module, arg.value.id)
                    roles |= {r.name for r in named}
                elif isinstance(arg, ast.Attribute) and ast.unparse(arg.value).endswith("Role"):
                    roles.add(arg.attr)
        elif isinstance(func, ast.Name) and func.id in functions and func.id not in seen:
            seen.add(func.id)
            more, more_own = _roles_in(functions[func.id], functions, seen, module)
            roles |= more
            own = own or more_own
        if isinstance(func, ast.Attribute) and func.attr == "agent":
            own = True
    if "Role.AGENT" in ast.unparse(node):  # an agent branch: agents act on their own records
        roles.add("AGENT")
        own = True
    return roles, own


# -- bodies from the schema ----------------------------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def _minimal(spec: dict[str, Any], schema: dict[str, Any], name: str = "") -> Any:
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return _minimal(spec, options[0], name) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _minimal(spec, props[k], k) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return []
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return {"workstream": "chat", "agent": "alice", "presence": "available", "queue": "chat_q"}.get(
        name, "x"
    )


def _body_of(spec: dict[str, Any], op: dict[str, Any]) -> Any:
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _minimal(spec, content["application/json"].get("schema", {}))


# -- the probe -----------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}
        self.found: list[str] = []
        self.answers: dict[str, dict[str, int]] = {}

    def answer(self, category: str, key: str) -> None:
        seen = self.answers.setdefault(category, {})
        seen[key] = seen.get(key, 0) + 1

    def count(self, category: str, anomaly: str | None = None) -> None:
        row = self.rows.setdefault(category, [0, 0])
        row[0] += 1
        if anomaly is not None:
            row[1] += 1
            self.found.append(f"{category}: {anomaly}")


_serial = itertools.count()


def _intake(client: httpx.Client, workstream: str = "chat") -> dict[str, Any]:
    response = client.post(
        "/v1/work-items",
        json={"external_id": f"p{next(_serial)}-{time.time_ns()}", "workstream": workstream},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _fill(server: Server, path: str) -> tuple[str, str, bool]:
    """``path`` with its parameters filled with a fresh item of alice's (offered to her), her
    agent id and her offer; and whether it names alice's records."""
    admin = server.client("admin")
    item = _intake(admin)
    offer_of = item.get("offer") or {}
    offer = offer_of.get("id", "none")
    values = {"item_id": item["id"], "offer_id": offer, "agent_id": "alice", "name": "chat_q",
              "version": "1", "conversation_id": item["id"]}  # fmt: skip
    filled = path
    for key, value in values.items():
        filled = filled.replace("{" + key + "}", str(value))
    alices = offer_of.get("agent") == "alice" or "{agent_id}" in path
    return (
        filled,
        item["id"],
        alices and any("{" + k + "}" in path for k in ("item_id", "offer_id", "agent_id")),
    )


def authorisation(server: Server, spec: dict[str, Any], tally: Tally) -> None:
    table = _role_table()
    who_all: list[str | None] = ["admin", "supervisor", "intake", "agent", "bob", None]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            if (method.upper(), path) not in table:
                tally.count("authorisation: not in role table", f"{method.upper()} {path}")
                continue
            roles, own = table[(method.upper(), path)]
            body = _body_of(spec, op)
            if path.endswith("/events") or "follow" in path:
                continue
            for who in who_all:
                filled, item_id, names_alice = _fill(server, path)
                client = server.client(who)
                try:
                    response = client.request(method.upper(), filled, json=body,
                                              params={"follow": "false"} if "events" in path else None)  # fmt: skip
                    status = response.status_code
                except httpx.TimeoutException:
                    tally.count("authorisation", f"{method.upper()} {filled} as {who}: no answer")
                    continue
                finally:
                    client.close()
                    server.client("admin").post(f"/v1/work-items/{item_id}/cancel", json={})
                tally.answer(
                    "authorisation 2xx by token",
                    (who or "none") if 200 <= status < 300 else "(not 2xx)",
                )
                if who in ("bob", None) and 200 <= status < 300:
                    tally.answer(f"2xx for {who or 'no token'}", f"{method.upper()} {path}")
                escalation = None
                if 200 <= status < 300 and roles is not None:
                    role = ROLE_OF.get("agent" if who == "bob" else who or "")
                    if role is None or role not in roles:
                        escalation = f"{method.upper()} {path} as {who or 'no token'}: {status}"
                    elif who == "bob" and own and names_alice:
                        escalation = f"{method.upper()} {path} as bob on alice's records: {status}"
                if status >= 500:
                    escalation = f"{method.upper()} {path} as {who}: {status}"
                tally.count("authorisation", escalation)


BAD = {
    "lone surrogate": lambda body: _with_string(body, '"\\ud800"'),
    "NaN": lambda body: _with_number(body, "NaN"),
    "Infinity": lambda body: _with_number(body, "-Infinity"),
    "nesting 100000": lambda body: b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "body > 1 MiB": lambda body: json.dumps(
        {"external_id": "x" * ((1 << 20) + 1), "workstream": "chat"}
    ).encode(),
}


def _with_string(body: Any, literal: str) -> bytes:
    """``body`` as JSON with its first string value (or a new key) replaced by ``literal``."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, str):
                return json.dumps({**body, key: "__X__"}).replace('"__X__"', literal).encode()
        return json.dumps({**body, "text": "__X__"}).replace('"__X__"', literal).encode()
    return literal.encode()


def _with_number(body: Any, literal: str) -> bytes:
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                return json.dumps({**body, key: "__X__"}).replace('"__X__"', literal).encode()
        return (
            json.dumps({**body, "attributes": {"n": "__X__"}}).replace('"__X__"', literal).encode()
        )
    return literal.encode()


def bad_inputs(server: Server, spec: dict[str, Any], tally: Tally) -> None:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "application/json" not in op.get("requestBody", {}).get("content", {}):
                continue
            body = _body_of(spec, op)
            cases: list[tuple[str, bytes, dict[str, str]]] = [
                (name, make(body), {}) for name, make in BAD.items()
            ]
            cases.append(("header 100 KB", json.dumps(body).encode(), {"X-Probe": "h" * 100_000}))
            for name, content, headers in cases:
                filled, item_id, _ = _fill(server, path)
                with server.client("admin") as client:
                    started = time.monotonic()
                    try:
                        response = client.request(method.upper(), filled, content=content,
                                                  headers={"Content-Type": "application/json", **headers})  # fmt: skip
                        status: int | str = response.status_code
                    except httpx.TimeoutException:
                        status = "no answer in 10 s"
                    except (
                        httpx.HTTPError
                    ) as error:  # a closed connection (oversize header) is fine
                        status = f"closed ({type(error).__name__})"
                    spent = time.monotonic() - started
                    client.post(f"/v1/work-items/{item_id}/cancel", json={})
                tally.answer("bad inputs by answer", str(status))
                bad = (isinstance(status, int) and status >= 500) or status == "no answer in 10 s"
                tally.count(
                    "bad inputs",
                    f"{method.upper()} {path} {name}: {status} in {spent:.1f} s" if bad else None,
                )
    with server.client("admin") as client:
        for path in (
            "/v1/work-items",
            "/v1/queues",
            "/v1/agents",
            "/v1/queues/chat_q/items",
            "/v1/audit",
        ):
            status = client.get(path).status_code
            tally.count(
                "bad inputs: listings after", f"GET {path}: {status}" if status != 200 else None
            )


def kills(db: Path, config: Path, rounds: int, rng: random.Random, tally: Tally) -> None:
    acknowledged: list[str] = []
    for round_ in range(rounds):
        server = Server(db, config if round_ == 0 else None)
        stop = threading.Event()
        acked: list[str] = []

        def load(
            url: str = server.url, acked: list[str] = acked, stop: threading.Event = stop
        ) -> None:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKENS['intake']}"},
                              timeout=TIMEOUT) as client:  # fmt: skip
                while not stop.is_set():
                    try:
                        response = client.post("/v1/work-items", json={
                            "external_id": f"k{next(_serial)}-{time.time_ns()}", "workstream": "email"})  # fmt: skip
                    except httpx.HTTPError:
                        return
                    if response.status_code == 201:
                        acked.append(response.json()["id"])

        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        time.sleep(rng.uniform(0.2, 1.5))
        server.stop(signal.SIGKILL)
        stop.set()
        thread.join(timeout=15)
        acknowledged += acked
        tally.count("SIGKILL rounds")
    server = Server(db, None)
    with server.client("admin") as client:
        for item_id in acknowledged:
            status = client.get(f"/v1/work-items/{item_id}").status_code
            tally.count(
                "SIGKILL: acknowledged items",
                f"{item_id} after restart: {status}" if status != 200 else None,
            )
    server.stop()


def races(server: Server, rounds: int, tally: Tally) -> None:
    admin = server.client("admin")
    for agent in ("alice", "bob"):
        admin.put(f"/v1/agents/{agent}/presence", json={"presence": "available"}).raise_for_status()
    neither = 0
    for _ in range(rounds):
        item = _intake(admin, "social")
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def pick(who: str, item_id: str = item["id"], barrier: threading.Barrier = barrier,
                 answers: dict[str, int] = answers) -> None:  # fmt: skip
            with server.client(who) as client:
                barrier.wait()
                answers[who] = client.post(f"/v1/work-items/{item_id}/pick").status_code

        threads = [threading.Thread(target=pick, args=(who,)) for who in ("agent", "bob")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [who for who, status in answers.items() if 200 <= status < 300]
        held = admin.get(f"/v1/work-items/{item['id']}").json().get("agent")
        anomaly = None
        if len(winners) > 1:
            anomaly = f"both picks answered 2xx: {answers}"
        elif winners and held != {"agent": "alice", "bob": "bob"}[winners[0]]:
            anomaly = f"{winners[0]} answered 2xx, the item is held by {held}"
        elif not winners:
            neither += 1
            print(f"(races: neither pick succeeded: {answers})")
        tally.count("races: concurrent pick", anomaly)
        admin.post(f"/v1/work-items/{item['id']}/cancel", json={})
    if neither:
        print(f"(races: {neither} rounds where neither pick succeeded)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--races", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    rng = random.Random(options.seed)
    tally = Tally()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(textwrap.dedent(CONFIG))
        server = Server(Path(folder) / "probe.db", config)
        try:
            spec = httpx.get(server.url + "/openapi.json", timeout=TIMEOUT).json()
            server.client("admin").put("/v1/agents/alice/presence", json={"presence": "available"})
            authorisation(server, spec, tally)
            bad_inputs(server, spec, tally)
            races(server, options.races, tally)
        finally:
            server.stop()
        kills(Path(folder) / "kills.db", config, options.kills, rng, tally)
    print(f"{'category':<32} {'cases':>7} {'anomalies':>10}")
    for category, (cases, anomalies) in tally.rows.items():
        print(f"{category:<32} {cases:>7} {anomalies:>10}")
    for category, seen in tally.answers.items():
        print(f"{category}: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
    print(f"({time.monotonic() - started:.0f} s)")
    for line in tally.found:
        print("  " + line)


if __name__ == "__main__":
    main()
