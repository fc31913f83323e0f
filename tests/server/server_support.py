"""Helpers of the server tests: ``unirouter serve`` subprocesses on 127.0.0.1, port 0, each
with its own SQLite file under pytest's tmp_path, and tokens of every role from the configuration."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from unirouter.server import spawn

TOKENS = {
    "admin": "t-admin-secret",
    "supervisor": "t-supervisor-secret",
    "intake": "t-intake-secret",
    "alice": "t-alice-secret",
    "bob": "t-bob-secret",
}


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


CONFIG = f"""
version: 1
skills: {{french: {{levels: 10}}}}
capacity_profiles: {{chat: {{limit: 2}}}}
workstreams:
  chat:
    kind: messaging
    mode: push
    capacity: {{units: 50, profiles: [chat]}}
    offer: {{timeout_s: 600}}
    wrap_up: {{block: always}}
    fallback_queue: chat_q
    route_to_queue: [{{when: "true", queue: chat_q}}]
  social:
    kind: messaging
    mode: pick
    capacity: {{units: 10}}
    skill_match: none
    fallback_queue: social_q
  email:
    kind: record
    capacity: {{units: 10}}
    fallback_queue: email_q
queues:
  chat_q: {{kind: messaging, members: [alice, bob]}}
  other_chat: {{kind: messaging, members: [bob]}}
  social_q: {{kind: messaging, members: [alice, bob]}}
  email_q: {{kind: record, members: [bob]}}
agents:
  alice: {{skills: {{french: 5}}, profiles: [chat]}}
  bob: {{profiles: [chat], default_presence: away}}
auth:
  tokens:
    - {{name: admin, role: admin, sha256: {_sha(TOKENS["admin"])}}}
    - {{name: supervisor, role: supervisor, sha256: {_sha(TOKENS["supervisor"])}}}
    - {{name: intake, role: intake, sha256: {_sha(TOKENS["intake"])}}}
    - {{name: alice, role: agent, agent: alice, sha256: {_sha(TOKENS["alice"])}}}
    - {{name: bob, role: agent, agent: bob, sha256: {_sha(TOKENS["bob"])}}}
"""

CLI = list(spawn.CLI)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``unirouter ARGS`` to completion."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})  # fmt: skip


@dataclass
class Server(spawn.Served):
    """A ``unirouter serve`` subprocess on its own SQLite file and an HTTP client per role."""

    db: Path = Path()

    def client(self, who: str | None = "admin") -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {TOKENS.get(who, who)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def start_server(db: Path, config: Path | None, *extra: str) -> Server:
    """Start ``unirouter serve`` on port 0 and wait for the line with its URL."""
    args = ["--db", str(db), *extra, *(["--config", str(config)] if config else [])]
    served = spawn.serve(*args)
    return Server(process=served.process, url=served.url, stderr=served.stderr, db=db)


def submit(client: httpx.Client, external_id: str, workstream: str = "chat", **fields: Any) -> Any:
    response = client.post(
        "/v1/work-items", json={"external_id": external_id, "workstream": workstream, **fields}
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def available(server: Server, *agents: str) -> None:
    """Set ``agents`` available: a server's agents start offline until they connect or set a
    presence (issue 16)."""
    admin = server.client("admin")
    for agent in agents:
        response = admin.put(f"/v1/agents/{agent}/presence", json={"presence": "available"})
        response.raise_for_status()


def without_liveness(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` (``agents`` and ``queues`` as the API lists them) without what a restart changes
    on purpose: agents' presence and connection (issue 16: nobody is connected after a restart),
    the queue figures that follow them (staffed, ready, EWT) and the longest wait, which counts
    to the moment of each read (issue 16 item 2)."""
    agents = [{k: v for k, v in a.items() if k not in ("presence", "presence_since", "label", "manual", "connected")}
              for a in state["agents"]]  # fmt: skip
    queues = [
        {k: v for k, v in q.items() if k not in ("staffed", "ready", "ewt_s", "longest_wait_s")}
        for q in state["queues"]
    ]
    return {**state, "agents": agents, "queues": queues}


def log_cursor(server: Server) -> int:
    """The newest log cursor: unchanged means nothing was written."""
    body = httpx.get(server.url + "/readyz", timeout=10).json()
    return int(body["cursor"])
