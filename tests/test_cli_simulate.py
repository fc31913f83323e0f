"""`unirouter simulate` and `unirouter demo` (SPEC §6.2, §7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from unirouter import cli

CONFIG = """
workstreams:
  chat:
    kind: messaging
    fallback_queue: q
    capacity: {units: 50}
    route_to_queue: [{when: item.topic == "billing", queue: q}]
queues:
  q: {kind: messaging, members: [alice, bob], assignment: {method: round_robin}}
agents: {alice: {}, bob: {}}
"""
SCENARIO = """
config: centre.yaml
duration: 5m
seed: 11
agent_behaviour: {accept: 0.6, response_s: 4s}
events:
  - {at: 0s, item: {id: c1, workstream: chat, attributes: {topic: billing}, handle_s: 60}}
  - {at: 10s, item: {id: c2, workstream: chat, handle_s: 90, wrap_up_s: 15}}
  - {at: 20s, item: {id: c3, workstream: chat, handle_s: 30}}
  - {at: 25s, agent: bob, presence: away}
  - {at: 40s, close: "c1:callback"}
"""
ANSI = "\x1b["


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    """A scenario file with its configuration file beside it."""
    (tmp_path / "centre.yaml").write_text(CONFIG, encoding="utf-8")
    path = tmp_path / "run.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``unirouter ARGS``."""
    result = CliRunner().invoke(cli.main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_simulate_json_prints_counts_errors_and_items(scenario_file: Path) -> None:
    """SPEC §7 --json: one object with seed, duration_s, counts, errors, items."""
    code, out, err = run("simulate", str(scenario_file), "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert {"seed", "duration_s", "counts", "errors", "items"} <= set(result)
    assert (result["seed"], result["duration_s"]) == (11, 300.0)
    assert result["counts"]["item_created"] == 3
    assert set(result["items"]) == {"c1", "c2", "c3"}
    assert set(result["items"]["c1"]) >= {"state", "queue", "agent", "close_reason"}
    assert result["errors"][0]["action"] == {"close": "c1:callback"}
    assert "trace" not in result["items"]["c1"]


def test_simulate_json_prints_the_kpis_of_every_scope(scenario_file: Path) -> None:
    """SPEC §7 --json: totals, queues, workstreams and agents hold the §8 KPIs."""
    _, out, _ = run("simulate", str(scenario_file), "--json")
    result = json.loads(out)
    assert list(result)[:6] == ["seed", "duration_s", "totals", "queues", "workstreams", "agents"]
    spec_keys = {"arrived", "answered", "abandoned", "short_abandoned", "expired", "overflowed",
                 "asa_s", "mean_wait_s", "p_wait", "service_level", "abandon_rate", "aht_s",
                 "max_wait_s"}  # fmt: skip
    for kpis in (result["totals"], *result["queues"].values(), *result["workstreams"].values()):
        assert spec_keys <= set(kpis)
    assert result["totals"]["arrived"] == 3
    assert set(result["agents"]) == {"alice", "bob"}
    assert {"occupancy", "utilisation", "handled", "offers", "declines", "expiries",
            "presence_s"} <= set(result["agents"]["alice"])  # fmt: skip


def test_simulate_seed_option_overrides_the_file(scenario_file: Path) -> None:
    """--seed N (or UNIROUTER_SEED) replaces the scenario's seed."""
    _, out, _ = run("simulate", str(scenario_file), "--json", "--seed", "5")
    assert json.loads(out)["seed"] == 5
    _, out, _ = run("simulate", str(scenario_file), "--json", env={"UNIROUTER_SEED": "6"})
    assert json.loads(out)["seed"] == 6


def test_simulate_trace_adds_each_items_trace(scenario_file: Path) -> None:
    """--trace: R43 traces in the output, only when asked."""
    _, out, _ = run("simulate", str(scenario_file), "--json", "--trace")
    trace = json.loads(out)["items"]["c1"]["trace"]
    assert [entry["stage"] for entry in trace][:3] == ["intake", "classification", "route"]


def test_simulate_events_writes_one_json_object_per_line(
    scenario_file: Path, tmp_path: Path
) -> None:
    """--events FILE.jsonl: the engine's event log, one flat object per line (SPEC §6.1.1)."""
    events = tmp_path / "events.jsonl"
    code, out, _ = run("simulate", str(scenario_file), "--json", "--events", str(events))
    assert code == 0
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"seq": 1, "t": 0.0, "type": "config_applied", "version": 1}
    assert sum(json.loads(out)["counts"].values()) == len(lines)


def test_simulate_without_json_prints_a_readable_account(scenario_file: Path) -> None:
    """SPEC §7: one line per event in virtual time, then a summary; no colour off a terminal."""
    code, out, _ = run("simulate", str(scenario_file))
    assert code == 0
    assert ANSI not in out
    lines = out.splitlines()
    assert lines[0] == "unirouter simulate · run.yaml"
    assert '00:00:00  c1      routed to q (rule 0: item.topic == "billing")' in lines
    assert any(
        line.startswith("00:00:00  c1      offered to alice (round_robin;") for line in lines
    )
    assert any("✗ refused {close: c1:callback}" in line for line in lines)
    assert "Items by final state" in lines and "Agents" in lines
    queues = lines.index("Queues")
    assert lines[queues + 1].split() == [
        "queue", "arrived", "answered", "abandoned", "service", "level", "asa", "aht",
    ]  # fmt: skip
    assert lines[queues + 2].split()[:3] == ["q", "3", "3"]


def test_a_bad_scenario_prints_each_issue_with_its_path(tmp_path: Path) -> None:
    """R41's manner for scenarios: `path: sentence` on stderr, exit 1, no traceback."""
    (tmp_path / "centre.yaml").write_text(CONFIG, encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(
        "config: centre.yaml\nevents:\n  - {at: 5s, agent: alice, accept: c1}\n"
        "  - {at: 6s, agent: bobby, presence: away}\n",
        encoding="utf-8",
    )
    code, out, err = run("simulate", str(path))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "events[0].accept: unknown item 'c1'; items are named by an {item: {id: ...}} event",
        "events[1].agent: unknown agent 'bobby'; did you mean 'bob'?",
    ]


def test_a_missing_scenario_is_one_sentence(tmp_path: Path) -> None:
    """SPEC §6.2: user errors are a sentence and a non-zero exit."""
    code, _, err = run("simulate", str(tmp_path / "nope.yaml"))
    assert (code, err) == (1, f"{tmp_path / 'nope.yaml'}: no such file\n")


def test_demo_prints_an_account_with_offers_and_an_overflow() -> None:
    """`unirouter demo --scripted` runs the bundled scripted scenario and narrates it."""
    code, out, err = run("demo", "--scripted")
    assert (code, err) == (0, "")
    assert ANSI not in out
    assert " offered to " in out
    assert " overflow in " in out
    for shown in ("classified:", "split", "declined", "expire", "penalty", "picked", "transferred",
                  "parked", "affinity", "scheduled for", "expired (time to live"):  # fmt: skip
        assert shown in out, shown
    assert "0 refused actions" in out


def test_console_script_simulates_as_a_real_process(scenario_file: Path, tmp_path: Path) -> None:
    """The installed script runs --json and --events; any hash seed gives the same bytes."""
    script = Path(sys.executable).parent / "unirouter"
    if not script.exists():
        pytest.skip("the unirouter console script is not installed beside this interpreter")
    outputs = []
    for hash_seed in ("1", "2"):
        events = tmp_path / f"events-{hash_seed}.jsonl"
        done = subprocess.run(
            [str(script), "simulate", str(scenario_file), "--json", "--events", str(events)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert (done.returncode, done.stderr) == (0, "")
        outputs.append((done.stdout, events.read_bytes()))
    assert json.loads(outputs[0][0])["counts"]["item_created"] == 3
    assert outputs[0] == outputs[1]
    assert outputs[0][1].count(b"\n") == sum(json.loads(outputs[0][0])["counts"].values())
