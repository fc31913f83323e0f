"""`unirouter.server.spawn`, the child-process starter every server test, benchmark and probe uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from unirouter.server import spawn


def test_a_child_that_cannot_start_says_why_and_leaves_nothing_running(tmp_path: Path) -> None:
    """A configuration that does not exist: ServeFailed carries the child's own error."""
    with pytest.raises(spawn.ServeFailed, match=r"missing\.yaml"):
        spawn.serve("--db", str(tmp_path / "u.db"), "--config", str(tmp_path / "missing.yaml"))


def test_a_served_child_answers_and_stops_on_its_signal(tmp_path: Path, config_file: Path) -> None:
    served = spawn.serve("--db", str(tmp_path / "u.db"), "--config", str(config_file))
    try:
        assert served.url.startswith("http://127.0.0.1:")
        assert served.ws_url == "ws" + served.url.removeprefix("http")
        assert httpx.get(served.url + "/healthz", timeout=10).status_code == 200
    finally:
        assert served.stop(signal.SIGTERM) == 0
    assert served.process.poll() == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_stops_when_its_parent_is_killed(tmp_path: Path, config_file: Path) -> None:
    """A parent killed by SIGKILL (as a killed test run is) leaves no server behind: the kernel sends
    the child SIGTERM and it exits."""
    script = (
        "import sys\n"
        "from unirouter.server import spawn\n"
        f"served = spawn.serve('--db', {str(tmp_path / 'u.db')!r}, '--config', {str(config_file)!r})\n"
        "print(served.process.pid, served.url, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    pid_text, url = parent.stdout.readline().split()
    child = int(pid_text)
    assert httpx.get(url + "/healthz", timeout=10).status_code == 200
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    outlived = _alive(child)
    if outlived:
        os.kill(child, signal.SIGKILL)
    assert not outlived, "the server outlived its killed parent"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is still a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
