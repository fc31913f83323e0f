"""The connection's own limits (issue 17 item 5; SPEC §10, oversize input is refused), probed with
raw sockets on loopback: a request head over ``header_bytes`` is refused (431) without being
read to its end, a head or a body that stalls is dropped after its timeout (408, then closed),
and connections past ``connections`` get 503. A dropped request runs nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from urllib.parse import urlparse

import httpx
import pytest
from server_support import TOKENS, Server, log_cursor

#: Long enough for any answer on a loaded machine; a test waiting this long has failed.
PATIENCE_S = 60


def _connect(server: Server) -> socket.socket:
    url = urlparse(server.url)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80))
    sock.settimeout(PATIENCE_S)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_50_mb_header_is_refused_before_it_is_read(server: Server) -> None:
    """Issue 17 item 5: the server stops reading a head past 64 KiB and closes the connection,
    so the client cannot send its 50 MB (it was once read whole and answered 200)."""
    sock = _connect(server)
    sent, total = 0, 50 * 1024 * 1024
    chunk = b"a" * 65536
    answer = b""
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
        answer = _read_all(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    assert sent < total
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def test_a_head_over_header_bytes_gets_431_naming_the_limit(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 5: the refusal is problem JSON naming header_bytes, and the connection
    closes."""
    server = serve_with("header_bytes=1024")
    sock = _connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
    answer = _read_all(sock)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") and b"application/problem+json" in head
    assert b'"limit_name": "header_bytes"' in body and b'"field": "headers"' in body
    small = httpx.get(server.url + "/healthz", timeout=10)
    assert small.status_code == 200


def test_a_stalled_body_is_dropped_after_body_timeout_ms_and_runs_nothing(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 5: a body that stops arriving gets 408 and the connection is closed; the
    intake it began is not run (it once held the connection for good)."""
    server = serve_with("body_timeout_ms=500")
    before = log_cursor(server)
    sock = _connect(server)
    sock.sendall(
        b"POST /v1/work-items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKENS["intake"].encode() + b"\r\n"
        b'Content-Length: 1000\r\n\r\n{"workstream": "chat", '
    )
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and b'"limit_name": "body_timeout_ms"' in answer
    assert log_cursor(server) == before


def test_many_stalled_bodies_are_all_dropped(serve_with: Callable[..., Server]) -> None:
    """Issue 17 item 5: a hundred stalled uploads are each dropped; the server goes on serving
    (1,000 were once still held after 33 s)."""
    server = serve_with("body_timeout_ms=500")
    socks = [_connect(server) for _ in range(100)]
    for sock in socks:
        sock.sendall(b"PUT /v1/config HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
    answers = [_read_all(sock) for sock in socks]
    for sock in socks:
        sock.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def test_a_stalled_head_is_dropped_after_header_timeout_ms(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 5: a head that never ends (slowloris), and a connection that never sends
    anything, are closed after header_timeout_ms."""
    server = serve_with("header_timeout_ms=500")
    half, silent = _connect(server), _connect(server)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    assert _read_all(half).startswith(b"HTTP/1.1 408")
    assert _read_all(silent).startswith(b"HTTP/1.1 408")
    half.close()
    silent.close()


def test_connections_past_the_limit_get_503_until_others_close(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 5: ``connections`` bounds what the server holds open; a request beyond it is
    answered 503 at once, and served again once the others are gone."""
    server = serve_with("connections=4", "header_timeout_ms=60000")
    idle = [_connect(server) for _ in range(4)]  # accepted first: the accept queue is in order
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 503
    for sock in idle:
        sock.close()
    for _ in range(100):
        if httpx.get(server.url + "/healthz", timeout=10).status_code == 200:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the server never served again after the idle connections closed")
