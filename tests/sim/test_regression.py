"""Fixed-seed regression of ``unirouter simulate --json`` (SPEC §7), and its determinism.

Each scenario ``tests/sim/golden/NAME.yaml`` has its expected ``--json`` output beside it in
``NAME.json``. A change to routing, traffic generation or the KPIs shows up here as a difference;
when the change is intended, regenerate the golden files and review their diff::

    UNIROUTER_REGEN_GOLDEN=1 .venv/bin/python -m pytest -p no:cacheprovider tests/sim/test_regression.py

Numbers are compared with a relative tolerance of 1e-9, so that a last-digit difference of the
platform's ``math`` library cannot fail the test while any real change does; everything else
(keys, counts, names, states) must be equal. The determinism tests run the command as real
processes and compare bytes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from unirouter import cli

GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = sorted(path.stem for path in GOLDEN.glob("*.yaml"))
REGENERATE = os.environ.get("UNIROUTER_REGEN_GOLDEN") == "1"
REL_TOLERANCE = 1e-9


def simulate_json(path: Path) -> str:
    result = CliRunner().invoke(cli.main, ["simulate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return result.stdout


def differences(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where ``actual`` departs from ``expected`` (floats within :data:`REL_TOLERANCE`)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if list(expected) != list(actual):
            return [f"{where}: keys {list(expected)} != {list(actual)}"]
        return [
            d for key in expected for d in differences(expected[key], actual[key], f"{where}.{key}")
        ]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} entries != {len(actual)}"]
        pairs = zip(expected, actual, strict=True)
        return [d for n, (e, a) in enumerate(pairs) for d in differences(e, a, f"{where}[{n}]")]
    if isinstance(expected, float) and isinstance(actual, float):
        close = math.isclose(expected, actual, rel_tol=REL_TOLERANCE, abs_tol=1e-12)
        return [] if close else [f"{where}: {expected!r} != {actual!r}"]
    if type(expected) is not type(actual) or expected != actual:
        return [f"{where}: {expected!r} != {actual!r}"]
    return []


def test_there_are_golden_scenarios() -> None:
    """The regression covers replications with warm-up, shifts with patience, and a mixed run."""
    assert {"replications", "shifts", "mixed"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_json_output_matches_the_golden_file(name: str) -> None:
    """SPEC §7 --json: the whole object of a fixed-seed run is what it was when last reviewed."""
    out = simulate_json(GOLDEN / f"{name}.yaml")
    golden = GOLDEN / f"{name}.json"
    if REGENERATE:
        golden.write_text(out, encoding="utf-8")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    found = differences(expected, json.loads(out))
    assert not found, "\n".join(found[:20])


def test_golden_outputs_hold_the_spec_keys() -> None:
    """SPEC §7: seed, duration_s, totals, queues, workstreams, agents (and groups, ci95 with R > 1)."""
    data = json.loads((GOLDEN / "replications.json").read_text(encoding="utf-8"))
    assert list(data)[:7] == [
        "seed", "duration_s", "totals", "queues", "workstreams", "agents", "groups",
    ]  # fmt: skip
    for key in ("arrived", "answered", "abandoned", "short_abandoned", "expired", "overflowed",
                "asa_s", "mean_wait_s", "p_wait", "service_level", "abandon_rate", "aht_s",
                "max_wait_s"):  # fmt: skip
        assert key in data["totals"] and f"{key}_ci95" in data["totals"], key
    assert set(data["groups"]) == {"junior", "senior"}
    for agent in data["agents"].values():
        assert {"occupancy", "utilisation", "handled", "offers", "declines", "expiries",
                "presence_s"} <= set(agent)  # fmt: skip
    assert len(data["runs"]) == data["replications"] == 3
    shifts = json.loads((GOLDEN / "shifts.json").read_text(encoding="utf-8"))
    assert "answered_ci95" not in shifts["totals"]


def command() -> list[str]:
    """The installed ``unirouter`` script, else the same entry point through this interpreter."""
    script = Path(sys.executable).parent / "unirouter"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from unirouter.cli import main; main()"]


@pytest.mark.parametrize("name", ["replications", "mixed"])
def test_the_same_file_and_seed_give_byte_identical_output_and_events(
    name: str, tmp_path: Path
) -> None:
    """Determinism: two real processes (different hash seeds) print the same bytes and write the
    same --events file."""
    outputs = []
    for hash_seed in ("0", "12345"):
        events = tmp_path / f"events-{hash_seed}.jsonl"
        done = subprocess.run(
            [
                *command(),
                "simulate",
                str(GOLDEN / f"{name}.yaml"),
                "--json",
                "--events",
                str(events),
            ],
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert (done.returncode, done.stderr) == (0, b"")
        outputs.append((done.stdout, events.read_bytes()))
    assert outputs[0] == outputs[1]
    stdout, events_bytes = outputs[0]
    counts = json.loads(stdout)["counts"]
    assert events_bytes.count(b"\n") == sum(counts.values())


def test_another_seed_gives_another_run() -> None:
    """--seed overrides the file's seed, and the figures change with it."""
    path = GOLDEN / "shifts.yaml"
    first = json.loads(simulate_json(path))
    result = CliRunner().invoke(cli.main, ["simulate", str(path), "--json", "--seed", "78"])
    other = json.loads(result.stdout)
    assert other["seed"] == 78
    assert other["totals"] != first["totals"]
