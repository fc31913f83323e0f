"""`unirouter bench sim` (issue 3): unirouter, Ciw and SimPy on one M/M/c model, side by side.

The command runs as a real process, and it starts each simulator in a process of its own. The runs
are tiny (5 agents, 5,000 arrivals expected) so that the figures come quickly; the seeds are fixed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unirouter.bench import sim as bench_sim

TINY = ["--arrivals", "5000", "--servers", "5", "--load", "0.7"]


def unirouter_cli(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``unirouter`` command, run as its own process."""
    code = "from unirouter.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_run() -> dict[str, Any]:
    """One tiny ``bench sim --json`` run shared by the tests that read its figures."""
    done = unirouter_cli("bench", "sim", *TINY, "--json")
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def test_json_reports_every_simulator_with_its_own_timing(tiny_run: dict[str, Any]) -> None:
    """Each simulator ran in its own process and reports items, build, run and process time."""
    rows = tiny_run["simulators"]
    assert list(rows) == list(bench_sim.SIMULATORS)
    for name, row in rows.items():
        assert row["missing"] is None, name
        assert row["version"]
        assert row["items"] > 4000 and row["counted"] > 3000
        assert row["build_s"] >= 0 and 0 < row["run_s"] < row["process_s"]
        assert row["items_per_s"] == pytest.approx(row["items"] / row["run_s"], rel=1e-3)
    assert tiny_run["model"] == {
        "arrivals": 5000, "servers": 5, "load": 0.7, "seed": 1, "mean_service_s": 300.0,
        "warmup_s": pytest.approx(0.1 * 5000 / (0.7 * 5 / 300.0)),
    }  # fmt: skip


def test_ratios_are_unirouter_items_per_second_over_each_other(tiny_run: dict[str, Any]) -> None:
    """The ratios divide unirouter's items/s by Ciw's and by SimPy's."""
    rows = tiny_run["simulators"]
    ours = rows["unirouter"]["items_per_s"]
    assert set(tiny_run["ratios"]) == {"unirouter/ciw", "unirouter/simpy"}
    for other in ("ciw", "simpy"):
        expected = ours / rows[other]["items_per_s"]
        assert tiny_run["ratios"][f"unirouter/{other}"] == pytest.approx(expected, abs=0.01)


def test_the_three_simulators_agree_with_erlang_c(tiny_run: dict[str, Any]) -> None:
    """All three simulate the same M/M/c: P(wait>0) and the mean wait are near Erlang C.

    About 4,500 counted items of a 5-agent system at load 0.7: waits are strongly correlated, so
    the share that waited is held to ±0.08 and the mean wait to within a factor of 1.6.
    """
    theory = tiny_run["erlang_c"]
    assert theory["p_wait"] == pytest.approx(0.3778, abs=1e-3)
    for name, row in tiny_run["simulators"].items():
        assert row["p_wait"] == pytest.approx(theory["p_wait"], abs=0.08), name
        assert theory["mean_wait_s"] / 1.6 < row["mean_wait_s"] < theory["mean_wait_s"] * 1.6, name


def test_table_prints_each_simulator_erlang_c_and_the_ratios() -> None:
    """Without --json: one row per simulator, the Erlang C row, then both ratios."""
    done = unirouter_cli("bench", "sim", "--arrivals", "300", "--servers", "3", "--load", "0.5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "c = 3, load 0.5, 300 arrivals" in lines[0]
    assert lines[1].split()[:2] == ["simulator", "items"]
    assert [line.split()[0] for line in lines[2:6]] == ["unirouter", "ciw", "simpy", "Erlang"]
    assert lines[6].startswith("unirouter/ciw: ") and lines[6].endswith("x")
    assert lines[7].startswith("unirouter/simpy: ")


def test_a_missing_simulator_is_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    """Without Ciw installed, its row says so and how to install it; the others still run."""
    shadow = tmp_path / "ciw"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'ciw'\", name='ciw')\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = unirouter_cli("bench", "sim", "--arrivals", "200", "--servers", "2", env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "ciw        Ciw is not installed; install the benchmark extras" in done.stdout
    assert "unirouter/ciw: n/a" in done.stdout
    assert "unirouter/simpy: " in done.stdout and "unirouter/simpy: n/a" not in done.stdout


@pytest.mark.parametrize(
    ("option", "value"), [("--load", "1.0"), ("--servers", "0"), ("--arrivals", "-5")]
)
def test_bad_model_options_name_the_option(option: str, value: str) -> None:
    """A load outside (0, 1), no agents or no arrivals: a usage error naming the option."""
    done = unirouter_cli("bench", "sim", option, value)
    assert done.returncode == 2
    assert option in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("field", "changes"), [("load", {"load": 1.2}), ("servers", {"servers": 0})]
)
def test_model_refuses_an_unstable_or_empty_system(field: str, changes: dict[str, Any]) -> None:
    """The library's model names the field it refuses."""
    with pytest.raises(ValueError, match=f"^{field}: "):
        bench_sim.Model(**changes)


def test_unknown_simulator_is_refused_by_name() -> None:
    """Only the three simulators of the benchmark can be measured."""
    with pytest.raises(ValueError, match="simulator: must be one of unirouter, ciw, simpy"):
        bench_sim.measure("anylogic", bench_sim.Model(arrivals=10, servers=1))
