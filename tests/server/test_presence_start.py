"""Presence from nowhere (issue 16, R35): a server's agents are offline until they connect or set
a presence, and a restart gives presence back only to agents who reconnect within the grace."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import websockets.sync.client as ws_client
from server_support import TOKENS, Server, start_server, submit


def _stream(server: Server, agent: str) -> ws_client.ClientConnection:
    return ws_client.connect(
        f"{server.ws_url}/v1/agents/{agent}/stream",
        additional_headers={"Authorization": f"Bearer {TOKENS[agent]}"},
        open_timeout=10,
    )


def _agent(server: Server, agent: str) -> dict[str, object]:
    body: dict[str, object] = server.client("admin").get(f"/v1/agents/{agent}").json()
    return body


def test_r35_agents_of_a_fresh_server_are_offline_and_the_first_chat_waits_for_one_to_connect(
    server: Server,
) -> None:
    """R35, issue 16: no agent counts as available before its own connection; the chat that
    arrived first is offered to the first agent who connects."""
    for agent in ("alice", "bob"):
        assert (_agent(server, agent)["presence"], _agent(server, agent)["connected"]) == (
            "offline",
            False,
        )
    item = submit(server.client("intake"), "first-chat")
    assert item["state"] == "queued" and item["offer"] is None
    with _stream(server, "alice") as conn:
        hello = json.loads(conn.recv(timeout=10))
        assert hello["agent"]["connected"] is True
        offered = server.client("admin").get(f"/v1/work-items/{item['id']}").json()
        assert offered["offer"]["agent"] == "alice"
    assert _agent(server, "bob")["presence"] == "offline"


def test_r35_a_restart_gives_presence_back_only_to_agents_who_reconnect_within_the_grace(
    tmp_path: Path, config_file: Path
) -> None:
    """R35, SPEC §9, issue 16: after a crash nobody is connected; an agent connected before it is
    offline until it reconnects, and reconnecting within 150 s restores its presence; an agent
    present by presence calls alone (no connection to lose) keeps its presence."""
    first = start_server(tmp_path / "u.db", config_file)
    first.client("bob").put("/v1/agents/bob/presence", json={"presence": "away"})
    with _stream(first, "alice") as conn:
        conn.recv(timeout=10)
        first.client("alice").put("/v1/agents/alice/presence", json={"presence": "busy"})
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    second = start_server(tmp_path / "u.db", None)
    try:
        alice = _agent(second, "alice")
        assert (alice["presence"], alice["connected"]) == ("offline", False)
        waiting = submit(second.client("intake"), "after-crash")
        assert waiting["offer"] is None
        with _stream(second, "alice") as conn:
            hello = json.loads(conn.recv(timeout=10))
            assert hello["agent"]["presence"] == "busy" and hello["agent"]["connected"]
        assert _agent(second, "bob")["presence"] == "away"
    finally:
        second.stop()
