"""Configuration bodies are read off the event loop and within bounds (issue 17 item 4; SPEC §10:
no input makes the server answer 5xx; R41): a 386-byte YAML alias bomb, JSON nested 100,000 deep
and YAML nested 20,000 deep each get a 422 naming the bound, never a 500 or a stalled server,
and change nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
import yaml
from server_support import CONFIG, Server

YAML = {"Content-Type": "application/yaml"}


def alias_bomb(levels: int = 9) -> str:
    """A configuration whose agent attributes hold 9 ** ``levels`` strings through aliases."""
    lines = CONFIG.rstrip().split("\n")
    at = lines.index("  alice: {skills: {french: 5}, profiles: [chat]}")
    bomb = ["  alice:", "    skills: {french: 5}", "    profiles: [chat]", "    attributes:",
            '      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']  # fmt: skip
    for previous, name in zip("abcdefghi", "bcdefghij"[: levels - 1], strict=False):
        bomb.append(f"      {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join([*lines[:at], *bomb, *lines[at + 1 :]]) + "\n"


def test_the_alias_bomb_is_small() -> None:
    """The bomb of the probe: about 400 bytes of aliases standing for 387 million strings."""
    added = len(alias_bomb()) - len(CONFIG)
    assert added < 450


def test_an_alias_bomb_is_refused_422_and_other_requests_are_answered_meanwhile(
    server: Server,
) -> None:
    """Issue 17 item 4: the bomb is refused naming the bound (max_nodes) and the configuration is
    unchanged; requests sent while it is read are answered (the server once stalled 10.5 s)."""
    admin = server.client("admin")
    version = admin.get("/v1/config").json()["version"]
    answers: dict[str, httpx.Response] = {}

    def send_bomb() -> None:
        answers["bomb"] = admin.put("/v1/config", content=alias_bomb(), headers=YAML, timeout=60)

    started = time.monotonic()
    bomber = threading.Thread(target=send_bomb)
    bomber.start()
    reads = [server.client("supervisor").get("/v1/queues", timeout=60) for _ in range(5)]
    bomber.join(timeout=60)
    elapsed = time.monotonic() - started
    assert [r.status_code for r in reads] == [200] * 5
    refused = answers["bomb"]
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["type"].endswith(":configuration_too_complex") and body["field"] == "body"
    assert body["limit_name"] == "max_nodes" and body["line"] is not None
    assert admin.get("/v1/config").json()["version"] == version
    assert elapsed < 30  # a generous bound: the unbounded parse took minutes of one core


@pytest.mark.parametrize(
    ("what", "body", "headers"),
    [
        ("JSON 100,000 deep", "[" * 100_000 + "]" * 100_000, {"Content-Type": "application/json"}),
        ("YAML 20,000 deep", "version: " + "[" * 20_000 + "]" * 20_000, YAML),
        (
            "YAML 65 deep",
            "version: 1\nagents: {alice: {attributes: {x: " + "[" * 65 + "]" * 65 + "}}}\n",
            YAML,
        ),
    ],
)
def test_deeply_nested_configuration_bodies_get_422_naming_max_depth(
    server: Server, what: str, body: str, headers: dict[str, str]
) -> None:
    """Issue 17 item 4: deep nesting is a 4xx naming the body, never a 500; dry run or not. (A
    JSON body is refused by the edge's own check of every JSON body, 400 or 422; YAML by the
    configuration's bounds, naming max_depth.)"""
    admin = server.client("admin")
    version = admin.get("/v1/config").json()["version"]
    for url in ("/v1/config?dry_run=true", "/v1/config"):
        refused = admin.put(url, content=body, headers=headers)
        assert refused.status_code in (400, 422), (what, refused.text)
        assert refused.json()["field"] == "body"
        if headers is YAML:
            assert refused.status_code == 422 and refused.json()["limit_name"] == "max_depth"
    assert admin.get("/v1/config").json()["version"] == version


def test_a_yaml_alias_that_holds_itself_is_refused(server: Server) -> None:
    """A recursive alias (``&a [*a]``) is no configuration: 422, not a hang."""
    body = CONFIG.replace("  alice: {skills: {french: 5}, profiles: [chat]}",
                          "  alice: {skills: {french: 5}, attributes: {x: &x [*x]}}")  # fmt: skip
    refused = server.client("admin").put("/v1/config?dry_run=true", content=body, headers=YAML)
    assert refused.status_code == 422 and refused.json()["field"] == "body"


def _large_config(entries: int) -> str:
    """A valid configuration made large by a long list in an agent's attributes."""
    data = yaml.safe_load(CONFIG)
    data["agents"]["alice"]["attributes"] = {"history": list(range(entries))}
    return yaml.safe_dump(data, default_flow_style=True, width=1 << 30)


def test_a_body_read_longer_than_config_parse_ms_is_refused_and_the_server_goes_on(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 4: reading runs with a timeout (422 naming config_parse_ms); the thread
    finishes on its own while the server goes on answering."""
    server = serve_with("config_parse_ms=1")
    admin = server.client("admin")
    slow = admin.put("/v1/config?dry_run=true", content=_large_config(50_000), headers=YAML)
    assert slow.status_code == 422, slow.text
    assert slow.json()["limit_name"] == "config_parse_ms" and slow.json()["field"] == "body"
    assert server.client("supervisor").get("/v1/queues").status_code == 200


def test_a_large_valid_body_within_the_bounds_is_read(server: Server) -> None:
    """The bounds leave room: 50,000 list entries (about 300 KB) validate and diff."""
    admin = server.client("admin")
    answer = admin.put("/v1/config?dry_run=true", content=_large_config(50_000), headers=YAML)
    assert answer.status_code == 200, answer.text
    assert answer.json()["diff"]["agents"]["changed"] == ["alice"]
