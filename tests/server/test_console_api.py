"""What the supervisor console and the configuration page read over the public API: agents by id
with the time they entered their presence, the configuration as an editable YAML file, and
configuration issues located at their line (R41)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from server_support import CONFIG, Server, log_cursor, start_server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server; the tests change presences of their own and dry-run configurations only."""
    folder = tmp_path_factory.mktemp("console-api")
    (folder / "config.yaml").write_text(CONFIG)
    started = start_server(folder / "u.db", folder / "config.yaml")
    yield started
    started.stop()


def test_agents_can_be_read_by_id_and_unknown_ids_are_left_out(shared: Server) -> None:
    """GET /v1/agents?id=…: only the agents named, once each; an id of no agent is not an error."""
    got = shared.client("supervisor").get(
        "/v1/agents", params=[("id", "bob"), ("id", "ghost"), ("id", "bob")]
    )
    assert got.status_code == 200
    assert [a["id"] for a in got.json()] == ["bob"]


def test_agent_ids_per_request_are_bounded(shared: Server) -> None:
    """More than 50 ids in one request is a field-named 422 (SPEC §10), not a slow scan."""
    params = [("id", f"a{n}") for n in range(51)]
    got = shared.client("supervisor").get("/v1/agents", params=params)
    assert got.status_code == 422 and got.json()["field"] == "id"


def test_presence_since_is_the_time_of_the_last_change_of_presence(shared: Server) -> None:
    """An agent view says since when the agent is in its presence; the same presence set again
    keeps the clock, a new one restarts it."""
    admin = shared.client("admin")
    before = time.time()
    first = admin.put("/v1/agents/bob/presence", json={"presence": "busy_dnd"}).json()
    assert before - 1 <= first["presence_since"] <= time.time() + 1
    again = admin.put("/v1/agents/bob/presence", json={"presence": "busy_dnd"}).json()
    assert again["presence_since"] == first["presence_since"]
    listed = shared.client("supervisor").get("/v1/agents", params={"id": "bob"}).json()
    assert listed[0]["presence_since"] == first["presence_since"]
    later = admin.put("/v1/agents/bob/presence", json={"presence": "away"}).json()
    assert later["presence_since"] > first["presence_since"]


def test_presence_since_survives_a_restart(tmp_path: Path) -> None:
    """The time in state is folded from the log, so a restarted server still says it."""
    (tmp_path / "c.yaml").write_text(CONFIG)
    server = start_server(tmp_path / "u.db", tmp_path / "c.yaml")
    try:
        since = server.client("admin").put("/v1/agents/bob/presence", json={"presence": "busy"})
    finally:
        server.stop()
    again = start_server(tmp_path / "u.db", tmp_path / "c.yaml")
    try:
        bob = again.client("admin").get("/v1/agents/bob").json()
        assert bob["presence_since"] == since.json()["presence_since"]
    finally:
        again.stop()


def test_the_configuration_as_yaml_reads_back_equal(shared: Server) -> None:
    """GET /v1/config with Accept: application/yaml is a file that, sent back as it is, changes
    nothing (an empty dry-run diff); its version is in Config-Version."""
    admin = shared.client("admin")
    got = admin.get("/v1/config", headers={"Accept": "application/yaml"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/yaml")
    assert int(got.headers["config-version"]) == admin.get("/v1/config").json()["version"]
    assert yaml.safe_load(got.text)["queues"]["chat_q"]["members"] == ["alice", "bob"]
    dry = admin.put("/v1/config", params={"dry_run": "true"}, content=got.text,
                    headers={"Content-Type": "application/yaml"})  # fmt: skip
    assert dry.status_code == 200, dry.text
    assert all(not any(change.values()) for change in dry.json()["diff"].values())


def test_r41_every_issue_of_a_yaml_file_names_its_field_path_and_line(shared: Server) -> None:
    """R41: all issues at once, each at its field path, and (YAML bodies) at the line written;
    nothing is applied."""
    text = CONFIG.replace("members: [bob]}", "members: [bob, zed]}", 1)
    text = text.replace("fallback_queue: email_q", "fallback_queue: nowhere")
    text = text.replace('[{when: "true", queue: chat_q}]', '[{when: "item.x ==", queue: chat_q}]')
    lines = text.splitlines()
    cursor = log_cursor(shared)
    got = shared.client("admin").put(
        "/v1/config", content=text, headers={"Content-Type": "application/yaml"}
    )
    assert got.status_code == 422
    issues = {e["field"]: e for e in got.json()["errors"]}
    assert set(issues) >= {
        "queues.other_chat.members[1]",
        "workstreams.email.fallback_queue",
        "workstreams.chat.route_to_queue[0].when",
    }

    def written(path: str) -> str:
        return lines[issues[path]["line"] - 1]

    assert "fallback_queue: nowhere" in written("workstreams.email.fallback_queue")
    assert "item.x ==" in written("workstreams.chat.route_to_queue[0].when")
    assert "zed" in written("queues.other_chat.members[1]")
    assert log_cursor(shared) == cursor


def test_a_yaml_syntax_error_names_its_line(shared: Server) -> None:
    """A body that is not YAML: 400 naming the body and the line where parsing stopped."""
    text = "version: 1\nqueues:\n  q: {kind: messaging\n  r: [\n"
    got = shared.client("admin").put(
        "/v1/config", params={"dry_run": "true"}, content=text,
        headers={"Content-Type": "application/yaml"},
    )  # fmt: skip
    assert got.status_code == 400 and got.json()["field"] == "body"
    assert got.json()["line"] >= 3
