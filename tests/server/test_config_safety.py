"""Safer configuration changes (issue 16 item 4, R41, R42) against a real ``unirouter serve``: the
diff names fields, a configuration that removes every queue needs ``allow_destructive``, a dry run
refuses what an apply refuses, and applied versions are kept to read and roll back to."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from server_support import CONFIG, TOKENS, Server, log_cursor, start_server, submit

from unirouter.cli import main

MORE_MEMBERS = CONFIG.replace(
    "other_chat: {kind: messaging, members: [bob]}",
    "other_chat: {kind: messaging, members: [bob, alice], priority: 3}",
)
#: CONFIG without the chat workstream (its items would have nowhere to route).
NO_CHAT = yaml.safe_load(CONFIG)
del NO_CHAT["workstreams"]["chat"]


def test_the_diff_names_the_fields_that_changed(server: Server) -> None:
    """R42 dry run: a changed entry comes with the paths of its changed fields."""
    admin = server.client("admin")
    body = admin.put("/v1/config?dry_run=true", content=MORE_MEMBERS,
                     headers={"Content-Type": "application/yaml"}).json()  # fmt: skip
    assert body["diff"]["queues"]["changed"] == ["other_chat"]
    assert body["diff"]["queues"]["fields"] == ["other_chat.members", "other_chat.priority"]


def test_a_configuration_that_removes_every_queue_needs_allow_destructive(server: Server) -> None:
    """Issue 16 item 4: an empty configuration is refused (dry run and apply alike), naming
    ``queues``, and changes nothing; with allow_destructive=true it applies."""
    admin = server.client("admin")
    version = admin.get("/v1/config").json()["version"]
    before = log_cursor(server)
    for dry in ("true", "false"):
        refused = admin.put(f"/v1/config?dry_run={dry}", json={})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "queues" and "every queue" in refused.json()["detail"]
    assert log_cursor(server) == before
    applied = admin.put("/v1/config?allow_destructive=true", json={})
    assert applied.status_code == 200 and applied.json()["version"] == version + 1


def test_a_dry_run_refuses_what_an_apply_refuses(server: Server) -> None:
    """R42: dropping a workstream that still has open items is refused by the dry run too."""
    submit(server.client("intake"), "open-1")
    admin = server.client("admin")
    dry = admin.put("/v1/config?dry_run=true", json=NO_CHAT)
    real = admin.put("/v1/config", json=NO_CHAT)
    assert dry.status_code == real.status_code == 422
    assert dry.json()["errors"] == real.json()["errors"]
    assert dry.json()["errors"][0]["field"] == "workstreams.chat"


def test_applied_versions_are_kept_and_one_can_be_rolled_back_to(server: Server) -> None:
    """Issue 16 item 4, R42: GET /v1/config/versions lists every applied version with its actor;
    a rollback applies an earlier one as a new version; the list survives a restart."""
    admin = server.client("admin")
    first = admin.get("/v1/config").json()
    changed = admin.put("/v1/config", content=MORE_MEMBERS,
                        headers={"Content-Type": "application/yaml"})  # fmt: skip
    assert changed.status_code == 200
    listed = admin.get("/v1/config/versions").json()
    assert [(v["version"], v["actor"]) for v in listed["versions"]] == [(1, None), (2, "admin")]
    assert admin.get("/v1/config/versions/1").json()["config"] == first["config"]
    assert admin.get("/v1/config/versions/9").status_code == 404
    dry = admin.post("/v1/config/versions/1/rollback?dry_run=true").json()
    assert dry["applied"] is False and dry["diff"]["queues"]["changed"] == ["other_chat"]
    rolled = admin.post("/v1/config/versions/1/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] == 3 and rolled.json()["rollback_of"] == 1
    assert admin.get("/v1/config").json()["config"] == first["config"]
    assert server.client("alice").get("/v1/config/versions").status_code == 403
    server.stop()
    again = start_server(server.db, None)
    try:
        after = again.client("supervisor").get("/v1/config/versions").json()
        assert [v["version"] for v in after["versions"]] == [1, 2, 3]
        assert after["versions"][2]["rollback_of"] == 1 and after["current"] == 3
    finally:
        again.stop()


def test_cli_apply_refuses_an_empty_file_unless_allow_destructive(
    server: Server, tmp_path: Path
) -> None:
    """Issue 16 item 4: `config apply` of a file without queues needs --allow-destructive."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\n")
    base = ["config", "apply", str(empty), "--url", server.url, "--token", TOKENS["admin"]]
    refused = CliRunner().invoke(main, base)
    assert refused.exit_code != 0 and "every queue" in refused.output
    diff = CliRunner().invoke(main, ["config", "diff", *base[2:]])
    assert diff.exit_code != 0 and "every queue" in diff.output
    applied = CliRunner().invoke(main, [*base, "--allow-destructive"])
    assert applied.exit_code == 0, applied.output
    assert "- queues.chat_q" in applied.output
