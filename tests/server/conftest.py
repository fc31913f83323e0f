"""Fixtures of the server tests: a real ``unirouter serve`` per test, on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from server_support import CONFIG, Server, start_server


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def server(tmp_path: Path, config_file: Path) -> Iterator[Server]:
    """A fresh server per test (state never leaks between tests)."""
    started = start_server(tmp_path / "u.db", config_file)
    yield started
    started.stop()


@pytest.fixture
def serve_with(tmp_path: Path, config_file: Path) -> Iterator[Callable[..., Server]]:
    """``serve_with("NAME=VALUE", ...)`` starts a server with those ``--limit`` pairs (all the
    servers started are stopped after the test)."""
    started: list[Server] = []

    def start(*pairs: str) -> Server:
        args = [arg for pair in pairs for arg in ("--limit", pair)]
        started.append(start_server(tmp_path / "u.db", config_file, *args))
        return started[-1]

    yield start
    for server in started:
        server.stop()
