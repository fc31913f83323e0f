"""A store lost under a running server (issue 17 item 6): deleted or truncated SQLite files make
the server refuse with 503 and turn ``/readyz`` not ready, never acknowledging into a store that is
gone; a fatal signal is reported, not silent. Real ``unirouter serve`` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from server_support import CLI, Server, submit


def _files(server: Server) -> list[Path]:
    return [server.db, Path(f"{server.db}-wal"), Path(f"{server.db}-shm")]


def _refuses(server: Server) -> None:
    """The next intake answers 503 (not acknowledged), so does the probe; the process stays up,
    not restarted onto a fresh empty file."""
    intake = server.client("intake")
    answer = intake.post("/v1/work-items", json={"external_id": "after", "workstream": "chat"})
    assert answer.status_code == 503, answer.text
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503 and "gone" in ready.json()["detail"], ready.text
    assert intake.post("/v1/work-items", json={"external_id": "again",
                                               "workstream": "chat"}).status_code == 503  # fmt: skip
    assert server.process.poll() is None


def test_deleting_the_database_files_stops_acknowledging_intake(server: Server) -> None:
    """Issue 17 item 6: after the files are deleted the next intake answers 503, not 201."""
    for n in range(5):
        submit(server.client("intake"), f"before-{n}")
    for name in _files(server):
        name.unlink()
    _refuses(server)
    assert server.stop() != 0


def test_a_truncated_wal_stops_acknowledging_intake(server: Server) -> None:
    """Issue 17 item 6: a WAL truncated under the server makes the next intake 503."""
    for n in range(5):
        submit(server.client("intake"), f"before-{n}")
    with open(_files(server)[1], "r+b") as wal:
        wal.truncate(0)
    _refuses(server)


def test_the_readiness_probe_notices_a_deleted_store_before_any_write(server: Server) -> None:
    """Issue 17 item 6: ``/readyz`` checks the files itself, so an idle server turns not ready."""
    assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
    server.db.unlink()
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503 and "deleted" in ready.json()["detail"]


def test_a_truncated_shared_memory_file_is_noticed_by_the_probe(server: Server) -> None:
    """Issue 17 item 6: an ``-shm`` file truncated under the server (what makes SQLite's mmap
    fault with SIGBUS) turns the probe not ready before the store touches it again."""
    submit(server.client("intake"), "before")
    with open(_files(server)[2], "r+b") as shm:
        shm.truncate(0)
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503 and "-shm" in ready.json()["detail"]


@pytest.mark.skipif(not hasattr(signal, "SIGBUS"), reason="POSIX only")
def test_a_bus_error_is_reported_on_stderr_not_silent(tmp_path: Path, config_file: Path) -> None:
    """Issue 17 item 6: a SIGBUS (an mmap of a truncated file) kills the server, but it says so,
    with the threads' tracebacks, on stderr."""
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [*CLI, "serve", "--db", str(tmp_path / "bus.db"), "--port", "0",
             "--config", str(config_file)],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline().startswith("unirouter serving on ")
    os.kill(process.pid, signal.SIGBUS)
    assert process.wait(timeout=20) == -signal.SIGBUS
    said = log.read_text()
    assert "Fatal Python error: Bus error" in said and "File " in said, said
