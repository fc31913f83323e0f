"""Helpers of the browser tests: a real ``unirouter serve`` on 127.0.0.1 port 0 over a temporary
SQLite file, tokens of every role from its configuration, and HTTP clients per role."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from unirouter.server import spawn

TOKENS = {
    "admin": "w-admin-secret",
    "supervisor": "w-supervisor-secret",
    "intake": "w-intake-secret",
    "alice": "w-alice-secret",
    "bob": "w-bob-secret",
}

#: The deployment's widget key (public: the pages that embed the chat widget carry it).
WIDGET_KEY = "w-widget-key"


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: chat: push with a long offer and a wrap-up that blocks 3 s; quick: offers expire in 2 s;
#: social: pick mode. alice and bob may take chat and social; bob alone sits in other_chat.
CONFIG = f"""
version: 1
capacity_profiles: {{chat: {{limit: 2}}}}
workstreams:
  chat:
    kind: messaging
    mode: push
    capacity: {{units: 40, profiles: [chat]}}
    offer: {{timeout_s: 300}}
    wrap_up: {{block: 3}}
    affinity: {{enabled: true}}
    fallback_queue: chat_q
  quick:
    kind: messaging
    mode: push
    capacity: {{units: 40}}
    offer: {{timeout_s: 2}}
    fallback_queue: quick_q
  social:
    kind: messaging
    mode: pick
    capacity: {{units: 10}}
    skill_match: none
    fallback_queue: social_q
queues:
  chat_q: {{kind: messaging, members: [alice, bob]}}
  other_chat: {{kind: messaging, members: [bob]}}
  quick_q: {{kind: messaging, members: [alice]}}
  social_q: {{kind: messaging, members: [alice, bob]}}
agents:
  alice: {{name: Alice Martin, profiles: [chat]}}
  bob: {{name: Bob Stone, profiles: [chat]}}
channels:
  widget: {{workstream: chat, key: {WIDGET_KEY}}}
auth:
  tokens:
    - {{name: admin, role: admin, sha256: {_sha(TOKENS["admin"])}}}
    - {{name: supervisor, role: supervisor, sha256: {_sha(TOKENS["supervisor"])}}}
    - {{name: intake, role: intake, sha256: {_sha(TOKENS["intake"])}}}
    - {{name: alice, role: agent, agent: alice, sha256: {_sha(TOKENS["alice"])}}}
    - {{name: bob, role: agent, agent: bob, sha256: {_sha(TOKENS["bob"])}}}
"""


@dataclass
class Server(spawn.Served):
    """A ``unirouter serve`` subprocess, its URL and HTTP clients per role."""

    def client(self, who: str | None = "admin") -> httpx.Client:
        headers = {} if who is None else {"Authorization": f"Bearer {TOKENS.get(who, who)}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def sign_in_link(self, who: str, page: str | None = None) -> str:
        """The sign-in link of the demo: the token in the fragment, never the query string."""
        fragment = f"token={TOKENS[who]}" + (f"&next={page}" if page else "")
        return f"{self.url}/ui/#{fragment}"

    def widget_link(self) -> str:
        """The chat widget's page, as embed.js frames it: the widget key in the fragment."""
        return f"{self.url}/ui/widget/#key={WIDGET_KEY}"


def start_server(db: Path, config: Path) -> Server:
    """Start ``unirouter serve`` on port 0 and wait for the line with its URL."""
    served = spawn.serve("--db", str(db), "--config", str(config))
    return Server(process=served.process, url=served.url, stderr=served.stderr)


def submit(server: Server, external_id: str, workstream: str = "chat", **fields: Any) -> Any:
    """Intake one item with the intake token; the body of the new item."""
    with server.client("intake") as client:
        response = client.post(
            "/v1/work-items", json={"external_id": external_id, "workstream": workstream, **fields}
        )
    assert response.status_code in (200, 201), response.text
    return response.json()
