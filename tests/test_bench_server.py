"""`unirouter bench server` runs end to end and prints its figures (never a pass/fail on timing)."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from unirouter import cli
from unirouter.bench import server as bench_server


def test_bench_server_prints_throughput_latency_and_the_bare_endpoint() -> None:
    """Issue 4 benchmark: durable intakes/s, p50/p99 intake-to-offer, the bare endpoint beside."""
    result = CliRunner().invoke(
        cli.main, ["bench", "server", "--clients", "4", "--seconds", "1", "--rate", "20", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["durable_intakes_per_s"] > 0 and figures["bare_requests_per_s"] > 0
    assert figures["offers_measured"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_bench_client_keeps_one_connection_alive_across_requests() -> None:
    """The load client posts over one keep-alive connection and reads each whole answer."""
    process, url = bench_server._start(bench_server._BARE)
    try:

        async def two_posts() -> list[tuple[int, bytes]]:
            connection = await bench_server._Connection.open(url, {})
            try:
                return [
                    await connection.post("/bare", {"external_id": f"k{n}", "workstream": "chat"})
                    for n in range(2)
                ]
            finally:
                await connection.close()

        answers = asyncio.run(two_posts())
    finally:
        bench_server._stop(process)
    assert [status for status, _ in answers] == [201, 201]
    assert [json.loads(body)["id"] for _, body in answers] == ["k0", "k1"]


def test_bench_client_refuses_an_answer_without_content_length() -> None:
    """An answer the client cannot delimit (no Content-Length) is an error naming it."""

    async def chunked_answer() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            connection = await bench_server._Connection.open(f"http://127.0.0.1:{port}", {})
            try:
                with pytest.raises(RuntimeError, match="Content-Length"):
                    await connection.post("/x", {})
            finally:
                await connection.close()

    asyncio.run(chunked_answer())
