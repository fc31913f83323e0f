"""Issue 17, SPEC §10: every operation with a JSON body, sent bodies that hold a lone surrogate, a
non-finite number or deep nesting (drawn by :mod:`hostile`), refuses them with a 4xx problem that
names the field, never a 5xx, and changes nothing; the server goes on answering in strict JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from hostile import hostile_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import CONFIG, TOKENS, Server, log_cursor, start_server, submit

from unirouter import config as configuration
from unirouter.server import EngineHost, create_app
from unirouter.storage import MemoryStore

EXAMPLES = 10


def _operations() -> list[tuple[str, str, list[str]]]:
    """(method, path, body properties) of every operation of /openapi.json taking JSON."""
    host = EngineHost(MemoryStore())
    host.restore(configuration.validate(yaml.safe_load(CONFIG)))
    document = create_app(host).openapi()
    schemas = document["components"]["schemas"]
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method.upper(), path, _properties(content["application/json"],
                                                                schemas)))  # fmt: skip
    return found


def _properties(media: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    schema = media.get("schema", {})
    for option in [schema, *schema.get("anyOf", [])]:
        ref = option.get("$ref", "")
        if ref:
            return sorted(schemas[ref.rsplit("/", 1)[-1]].get("properties", {}))
    return sorted(schema.get("properties", {}))


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "config.yaml").write_text(CONFIG)
    server = start_server(folder / "u.db", folder / "config.yaml")
    item = submit(server.client("intake"), "hostile-1")["id"]
    yield server, item
    server.stop()


def test_every_json_operation_is_covered() -> None:
    """The operations below are read from the OpenAPI document: intake, changes, lifecycle,
    messages, presence, offers, configuration and channels."""
    paths = {path for _, path, _ in OPERATIONS}
    assert {"/v1/work-items", "/v1/config", "/v1/work-items/{item_id}/messages"} <= paths
    assert len(OPERATIONS) >= 12


@pytest.mark.parametrize(("method", "path", "fields"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p, _ in OPERATIONS])  # fmt: skip
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])  # fmt: skip
@given(data=st.data())
def test_a_hostile_json_body_is_refused_naming_its_field(
    target: tuple[Server, str], method: str, path: str, fields: list[str], data: st.DataObject
) -> None:
    """Issue 17 items 1, 3 and 8: a 4xx naming the field (or ``body``), nothing logged, and the
    item list still answered in strict JSON."""
    server, item = target
    body, kind = data.draw(hostile_body(fields), label="body")
    url = path.replace("{item_id}", item).replace("{agent_id}", "alice")
    url = url.replace("{offer_id}", "no-such-offer").replace("{name}", "chat_q")
    response = _refused(server, method, url, body)
    if kind != "deep" and path.startswith("/v1/work-items"):
        assert response.status_code == 422, response.text[:300]
    listed = server.client("admin").get("/v1/work-items")
    assert listed.status_code == 200
    json.loads(listed.content, parse_constant=_refuse_constant)


def _refused(server: Server, method: str, url: str, body: bytes) -> httpx.Response:
    before = log_cursor(server)
    response = httpx.request(method, server.url + url, content=body, timeout=30, headers={
        "content-type": "application/json", "Authorization": f"Bearer {TOKENS['admin']}"})  # fmt: skip
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    problem = json.loads(response.content, parse_constant=_refuse_constant)
    if response.status_code in (400, 422):
        assert problem.get("field"), problem
    assert log_cursor(server) == before
    return response


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"the answer is not strict JSON: {name}")
