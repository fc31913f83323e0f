"""Docs and edges that match what the server does (issue 16 item 8): unknown channels refused
against the workstream's channels, error fields named as the request writes them, the event
stream's follow default, and the README and Makefile pointing at what exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import CONFIG, Server, log_cursor, start_server, submit

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = CONFIG.replace(
    "    kind: messaging\n    mode: push\n",
    "    kind: messaging\n    channels: [chat, sms]\n    mode: push\n",
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    assert "channels: [chat, sms]" in CHANNELS
    (tmp_path / "config.yaml").write_text(CHANNELS)
    server = start_server(tmp_path / "u.db", tmp_path / "config.yaml")
    yield server
    server.stop()


def test_an_unknown_channel_is_refused_against_the_workstreams_channels(served: Server) -> None:
    """Issue 16 item 8: a channel the workstream does not list is a 422 naming ``channel``."""
    intake = served.client("intake")
    before = log_cursor(served)
    refused = intake.post("/v1/work-items", json={"external_id": "c-1", "workstream": "chat",
                                                  "channel": "chta"})  # fmt: skip
    assert refused.status_code == 422 and refused.json()["field"] == "channel"
    assert "chat, sms" in refused.json()["detail"]
    assert log_cursor(served) == before
    assert submit(intake, "c-2", channel="sms")["channel"] == "sms"
    assert submit(intake, "c-3", workstream="email", channel="anything")["channel"] == "anything"


def test_error_fields_are_named_as_the_request_writes_them(served: Server) -> None:
    """SPEC §10: ``skills[0].level``, not ``skills.0.level``; ``available_at``, not the
    validator's ``available_at.float`` and ``available_at.datetime``."""
    intake = served.client("intake")
    body = {"external_id": "e-1", "workstream": "chat"}
    level = intake.post("/v1/work-items", json={**body, "skills": [{"name": "f", "level": "x"}]})
    assert level.json()["field"] == "skills[0].level"
    when = intake.post("/v1/work-items", json={**body, "available_at": "tomorrow"}).json()
    assert when["field"] == "available_at"
    assert [e["field"] for e in when["errors"]] == ["available_at"]


def test_the_event_stream_follows_by_default_and_ends_with_follow_false(served: Server) -> None:
    """docs/api.md: follow defaults to true; follow=false ends after the backlog."""
    client = served.client("supervisor")
    ended = client.get("/v1/events", params={"follow": "false"})
    assert ended.status_code == 200 and "event: config_applied" in ended.text
    with client.stream("GET", "/v1/events") as live:
        first = next(live.iter_lines())
        assert first.startswith("id: ")  # still open after the backlog's first frame
    assert "`follow` defaults to `true`" in (ROOT / "docs" / "api.md").read_text()


def test_readme_says_each_paragraph_once_and_the_makefile_points_at_what_exists() -> None:
    """Issue 16 item 8: no duplicated README paragraph; no pointer to a missing STYLE.md."""
    paragraphs = [p.strip() for p in (ROOT / "README.md").read_text().split("\n\n") if p.strip()]
    prose = [p for p in paragraphs if not p.startswith(("|", "```", "#", "-"))]
    assert len(prose) == len(set(prose))
    assert "STYLE.md" not in (ROOT / "Makefile").read_text() or (ROOT / "STYLE.md").exists()
