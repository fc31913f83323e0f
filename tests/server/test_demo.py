"""``unirouter demo`` (SPEC §6.2): the live server with synthetic traffic and agents, as a real
subprocess. It prints URLs and ready tokens that work, synthetic agents handle items over their
WebSocket, the human's agent is left alone (offline until its person connects), and Ctrl-C stops
it cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
from server_support import CLI


def _tokens(lines: list[str]) -> tuple[str, dict[str, str]]:
    url = next(line.split()[-1] for line in lines if line.startswith("unirouter serving on "))
    tokens = {}
    for line in lines:
        words = line.split()
        if words and words[0] in ("admin", "supervisor", "intake"):
            tokens[words[0]] = words[-1]
        elif line.strip().startswith("agent alice (you)"):
            tokens["alice"] = words[-1]
    return url, tokens


def start_demo(tmp_path: Path) -> tuple[subprocess.Popen[str], list[str], list[str]]:
    """``unirouter demo`` at 30x speed, read up to its last announcement line: the process, the
    lines it printed, and its stderr (filled as it comes)."""
    args = [
        "demo",
        "--port",
        "0",
        "--speed",
        "30",
        "--duration",
        "60",
        "--db",
        str(tmp_path / "d.db"),
    ]
    process = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(process.stderr or []), daemon=True).start()
    lines: list[str] = []
    while not any("(you)" in line for line in lines):
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise AssertionError(f"the demo ended early: {lines} {errors}")
        lines.append(line)
    return process, lines, errors


def test_demo_serves_live_traffic_prints_working_tokens_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """SPEC §6.2 `unirouter demo`: URLs and ready tokens printed; items handled by synthetic
    agents; no synthetic agent answers the human's offers; Ctrl-C stops it with exit 0."""
    process, lines, errors = start_demo(tmp_path)
    assert process.stdout is not None
    try:
        url, tokens = _tokens(lines)
        assert set(tokens) == {"admin", "supervisor", "intake", "alice"}
        assert any(f"{url}/openapi.json" in line for line in lines)

        def get(who: str, path: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            return httpx.get(url + path, headers=headers, timeout=10)

        assert get("admin", "/v1/config").status_code == 200
        assert get("supervisor", "/v1/queues").status_code == 200
        _check_web_links(url, lines, tokens)
        alice = get("alice", "/v1/agents/alice")
        assert alice.status_code == 200
        assert alice.json()["presence"] == "offline", "the person's agent starts offline (issue 16)"
        assert get("alice", "/v1/agents/bob").status_code == 403
        assert get("intake", "/v1/agents").status_code == 403
        deadline = time.monotonic() + 40
        closed: list[dict[str, object]] = []
        while not [i for i in closed if i["close_reason"] == "completed"]:
            assert time.monotonic() < deadline, "no item was handled"
            time.sleep(0.5)
            closed = get("supervisor", "/v1/work-items?state=closed").json()["items"]
        events = [json.loads(line[6:]) for line in get("admin", "/v1/events?follow=false").text.splitlines()
                  if line.startswith("data: ")]  # fmt: skip
        accepted = {e["agent"] for e in events if e["type"] == "offer_accepted"}
        assert accepted and "alice" not in accepted
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    assert "unirouter demo stopped:" in out
    assert "Traceback" not in "".join(errors)


def _check_web_links(url: str, lines: list[str], tokens: dict[str, str]) -> None:
    """Issue 8 item 6: one line per interface with a ready sign-in link whose token is in the
    fragment only (never a query string), and the chat widget's link with its key, which opens a
    chat; ``/`` sends a browser to the web front end."""
    links = {}
    for line in lines:
        words = line.split()
        if len(words) >= 3 and " ".join(words[:2]) in ("agent desktop", "chat widget"):
            links[" ".join(words[:2])] = words[2]
        elif words and words[0] in ("console", "configuration"):
            links[words[0]] = words[1]
    assert links == {
        "agent desktop": f"{url}/ui/#token={tokens['alice']}&next=agent",
        "console": f"{url}/ui/#token={tokens['supervisor']}&next=console",
        "configuration": f"{url}/ui/#token={tokens['admin']}&next=config",
        "chat widget": links["chat widget"],
    }
    assert all("?" not in link for link in links.values())
    assert links["chat widget"].startswith(f"{url}/ui/widget/#key=wk_")
    for link in links.values():
        assert httpx.get(link.partition("#")[0], timeout=10).status_code == 200
    home = httpx.get(url + "/", timeout=10)
    assert home.status_code == 307 and home.headers["location"] == "/ui/"
    key = links["chat widget"].partition("#key=")[2]
    chat = {"conversation": "demo-customer-0001", "text": "Hello from the demo"}
    opened = httpx.post(url + "/v1/widget/conversations", json=chat,
                        headers={"X-Widget-Key": key}, timeout=10)  # fmt: skip
    assert opened.status_code == 201, opened.text


def test_a_demo_without_db_removes_the_folder_it_made(tmp_path: Path) -> None:
    """Issue 16 item 7: the demo's own temporary log folder is gone when it ends; --db keeps it."""
    import os

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    args = ["demo", "--port", "0", "--speed", "30", "--duration", "3"]
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    made = next(line.split()[-1] for line in done.stdout.splitlines() if " log in " in line)
    assert Path(made).parent.parent == tmp_path
    assert f"removed {Path(made).parent} (--db FILE keeps the log)" in done.stdout
    assert list(tmp_path.iterdir()) == []
    assert "socket.send() raised exception" not in done.stderr
