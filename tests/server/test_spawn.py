"""`unirouter.server.spawn`, the child-process starter every server test, benchmark and probe uses."""

from __future__ import annotations

import signal
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
