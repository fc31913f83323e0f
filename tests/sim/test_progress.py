"""The progress bar of long simulation runs: virtual time done ÷ (duration × replications), drawn on
standard error only for a quiet run (`--report` without `--json`) whose output is a terminal.

The command-line tests run `unirouter simulate` in a real subprocess, on a real pseudo-terminal
(:mod:`pty`) or through pipes.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from unirouter.sim import _report_plots, progress, runner, scenario

AGENTS = ["a1", "a2", "a3"]
CONFIG: dict[str, Any] = {
    "workstreams": {"chat": {"kind": "messaging", "fallback_queue": "q"}},
    "queues": {"q": {"kind": "messaging", "members": AGENTS}},
    "agents": {name: {} for name in AGENTS},
}
ARRIVALS = [
    {
        "workstream": "chat",
        "rate": "30/h",
        "handle_time": {"dist": "exponential", "mean_s": 240},
        "patience": {"dist": "exponential", "mean_s": 300},
    }
]
COMMAND = [sys.executable, "-c", "from unirouter.cli import main; main()"]
BAR_START = "\x1b[?25l"  # click hides the cursor while it draws a bar


class Terminal(io.StringIO):
    """A text stream that says it is a terminal: what click draws its bar on."""

    def isatty(self) -> bool:
        return True


def generated(**top: Any) -> scenario.Scenario:
    return scenario.parse(
        {"config": CONFIG, "duration": "2h", "seed": 3, "arrivals": ARRIVALS, **top}
    )


def frames(drawn: str) -> list[str]:
    """Each redraw of the bar (click starts every one with a carriage return)."""
    return [frame for frame in drawn.split("\r") if frame.strip()]


def percents(drawn: str) -> list[int]:
    return [int(found[1]) for frame in frames(drawn) if (found := re.search(r"(\d+)%", frame))]


# -- the observer --------------------------------------------------------------------------------


def test_the_bar_counts_virtual_time_over_duration_times_replications() -> None:
    """Replication after replication, up to 100% at the end of the last one."""
    sc = generated(replications=2)
    ticks = itertools.count()
    stream = Terminal()
    bar = progress.Progress(
        duration_s=sc.duration, replications=2, stream=stream, clock=lambda: float(next(ticks))
    )
    with bar:
        runner.run(sc, observers=[bar])
    drawn = stream.getvalue()
    shown = percents(drawn)
    assert shown[0] == 0 and shown[-1] == 100
    assert shown == sorted(shown)
    assert any(0 < p < 50 for p in shown) and any(50 < p < 100 for p in shown)
    assert re.search(r"simulating replication 1/2 · 01:\d\d:\d\d of 2h", drawn)
    assert re.search(r"simulating replication 2/2 · 00:\d\d:\d\d of 2h", drawn)
    assert "simulating replication 2/2 · 02:00:00 of 2h" in drawn
    assert bar.done_s == 2 * sc.duration


def test_the_bar_is_redrawn_at_most_every_min_interval() -> None:
    """Cheap: with no wall time passing, the bar is drawn when the run starts and ends only."""
    sc = generated()
    stream = Terminal()
    bar = progress.Progress(
        duration_s=sc.duration, replications=1, stream=stream, clock=lambda: 5.0
    )
    with bar:
        result = runner.run(sc, observers=[bar])
    assert sum(result.counts.values()) > 100
    assert percents(stream.getvalue()) == [0, 100]


def test_the_bar_is_wanted_only_when_both_streams_are_terminals() -> None:
    """Nothing extra when standard output is redirected, nor when the bar's stream is."""
    assert progress.wanted(stdout=Terminal(), stream=Terminal())
    assert not progress.wanted(stdout=io.StringIO(), stream=Terminal())
    assert not progress.wanted(stdout=Terminal(), stream=io.StringIO())


# -- the command on a terminal and through pipes ---------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def warm_matplotlib() -> None:
    """Draw one chart here first, so no subprocess prints matplotlib's one-time font cache notice."""
    _report_plots.charts({"agents": {"a1": {"occupancy": 0.5}}})


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    (tmp_path / "centre.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    body = {"config": "centre.yaml", "duration": "2h", "seed": 3, "arrivals": ARRIVALS}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def on_terminal(*args: str, timeout_s: float = 120.0) -> str:
    """Everything `unirouter ARGS` wrote to a pseudo-terminal serving as all three streams."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [*COMMAND, *args], stdin=follower, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child has gone and the terminal is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=10) == 0, b"".join(chunks).decode(errors="replace")
    finally:
        os.close(leader)
        if child.poll() is None:
            child.kill()
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_a_report_run_on_a_terminal_shows_the_bar(scenario_file: Path, tmp_path: Path) -> None:
    """--report alone on a terminal: the bar, then one line saying where the report went."""
    target = tmp_path / "report.html"
    shown = on_terminal("simulate", str(scenario_file), "--report", str(target))
    assert BAR_START in shown
    assert "simulating 02:00:00 of 2h" in shown
    assert percents(shown)[-1] == 100
    last = shown.rstrip("\n").split("\n")[-1]
    assert last.startswith(f"Wrote {target}: 2h · ")
    assert target.exists()


def test_a_report_run_through_pipes_shows_nothing_extra(
    scenario_file: Path, tmp_path: Path
) -> None:
    """stdout not a terminal: no bar, no control characters, nothing on stderr."""
    target = tmp_path / "report.html"
    done = subprocess.run(
        [*COMMAND, "simulate", str(scenario_file), "--report", str(target)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"Wrote {target}: ") and done.stdout.count("\n") == 1
    assert "\r" not in done.stdout and "\x1b" not in done.stdout


def test_json_on_a_terminal_shows_no_bar(scenario_file: Path, tmp_path: Path) -> None:
    """--json (with --report): the JSON object and nothing else, even on a terminal."""
    target = tmp_path / "report.html"
    shown = on_terminal("simulate", str(scenario_file), "--json", "--report", str(target))
    assert BAR_START not in shown and "simulating" not in shown
    assert json.loads(shown)["seed"] == 3
    assert target.exists()


def test_a_narrated_run_on_a_terminal_shows_no_bar(scenario_file: Path) -> None:
    """The account writes a line per event: a bar redrawn over it would garble it."""
    shown = on_terminal("simulate", str(scenario_file))
    assert BAR_START not in shown and "simulating" not in shown
    assert "unirouter simulate · run.yaml" in shown
