"""The independent probe of SPEC §3: scenarios through the command line, judged by the event log.

Each test writes a scenario file, runs ``unirouter simulate FILE --events LOG --json`` through the
command-line entry point, and asserts the rule's observable outcome (times, agents, order) from the
event log alone (plus the refusals of ``--json`` where a rule says a command is refused). It knows
nothing of the engine's insides: it is the SPEC read as a user reads it, next to the library-level
rule tests under ``tests/test_rules_*.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from spec_support import Probe, Run

from unirouter import cli


@pytest.fixture
def probe(tmp_path: Path) -> Probe:
    """``probe(config, events, **top)``: run the scenario through the CLI; return its log."""

    def run(config: str, events: str, *, duration: str = "10m", **top: Any) -> Run:
        scenario = {"config": "centre.yaml", "duration": duration, "agent_behaviour": "manual"}
        scenario.update(top)
        scenario["events"] = yaml.safe_load(events)
        (tmp_path / "centre.yaml").write_text(config, encoding="utf-8")
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
        log_file = tmp_path / "events.jsonl"
        args = ["simulate", str(path), "--events", str(log_file), "--json", "--trace"]
        result = CliRunner().invoke(cli.main, args)
        assert result.exit_code == 0, (result.output, result.stderr)
        log = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
        return Run(log=log, out=json.loads(result.stdout))

    return run
