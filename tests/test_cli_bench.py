"""`unirouter bench engine`: figures printed, never a pass/fail (issue: speed by design)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from unirouter.cli import main


def test_bench_engine_prints_one_row_per_size_as_json() -> None:
    """The JSON output has one row per agent count, the first with cost ratio 1."""
    result = CliRunner().invoke(
        main, ["bench", "engine", "--sizes", "60,120", "--items", "200", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["agents"] for row in rows] == [60, 120]
    assert rows[0]["cost_ratio"] == 1.0
    assert all(row["items"] == 200 and row["items_per_s"] > 0 for row in rows)


def test_bench_engine_refuses_a_malformed_size_list() -> None:
    """A size list that is not numbers is a usage error naming the option."""
    result = CliRunner().invoke(main, ["bench", "engine", "--sizes", "ten"])
    assert result.exit_code == 2
    assert "--sizes" in result.output
