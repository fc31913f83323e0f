"""``bench/web.py`` (issue 8) runs end to end in headless Chromium and prints its figures: event to
screen latency of the console, main-thread busy share, the event rate reached. Small sizes here;
nothing about timing is asserted (the figures are for people, `make bench`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "web.py"


def test_the_web_bench_measures_the_console_and_prints_figures() -> None:
    args = ["--agents", "60", "--queues", "6", "--rate", "15", "--seconds", "3", "--json"]
    done = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=240, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert (figures["agents"], figures["queues"]) == (60, 6)
    assert figures["events"] > 0 and figures["probes"] > 0
    assert figures["probes_not_seen"] < figures["probes"], "no probe reached the screen"
    latency = figures["latency_ms"]
    assert latency["p50"] is not None and latency["p50"] <= latency["p99"] <= latency["max"]
    assert figures["busy_share"] >= 0 and figures["long_task_share"] >= 0
    Path(figures["screenshot"]).unlink()
