"""`unirouter bench server` runs end to end and prints its figures (never a pass/fail on timing)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from unirouter import cli


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
