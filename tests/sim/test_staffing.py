"""``unirouter staff`` (SPEC §6.2) and :mod:`unirouter.sim.staffing`: intervals, template clones,
the Erlang estimate and the simulated search for the smallest headcount meeting a target."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from unirouter import cli
from unirouter.errors import ConfigError
from unirouter.sim import queueing, scenario, staffing

CONFIG: dict[str, Any] = {
    "workstreams": {
        "calls": {"kind": "voice", "offer": {"auto_accept": True}, "fallback_queue": "q"}
    },
    "queues": {
        "q": {"kind": "voice", "members": ["ann", "bob"]},
        "vip": {"kind": "voice", "members": ["ann"]},
    },
    "agents": {"ann": {"skills": {}}, "bob": {}},
}
HANDLE = {"dist": "exponential", "mean_s": 60}
#: 360 calls an hour of one minute each: 6 Erlangs.
PLAIN: dict[str, Any] = {
    "config": CONFIG,
    "duration": "3h",
    "warmup": "20m",
    "seed": 5,
    "arrivals": [{"workstream": "calls", "rate": "360/h", "handle_time": HANDLE}],
}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def parsed(data: dict[str, Any]) -> scenario.Scenario:
    return scenario.parse(data)


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "staff.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


# -- intervals -----------------------------------------------------------------------------------------


def test_a_plain_rate_is_one_interval_over_the_whole_run_counted_after_the_warmup() -> None:
    """A plain rate staffs [0, duration) as one interval; items of the warm-up do not count."""
    (only,) = staffing.intervals(parsed(PLAIN))
    assert (only.start_s, only.end_s, only.counted_from_s) == (0.0, 10800.0, 1200.0)
    assert only.arrival_rate == pytest.approx(0.1)
    assert (only.hold_s, only.patience_rate, only.searched) == (60.0, 0.0, True)


def test_rate_pieces_cut_the_run_into_intervals_and_gaps_have_no_arrivals() -> None:
    """Every from/to of a piece is a boundary; an interval without arrivals is not searched."""
    pieces = [
        {"from": "0h", "to": "1h", "rate": "60/h"},
        {"from": "2h", "to": "3h", "rate": "120/h"},
    ]
    data = with_(
        PLAIN,
        warmup="0s",
        arrivals=[{"workstream": "calls", "rate": pieces, "handle_time": HANDLE}],
    )
    spans = staffing.intervals(parsed(data))
    assert [(s.start_s, s.end_s) for s in spans] == [(0, 3600), (3600, 7200), (7200, 10800)]
    assert [s.arrival_rate * 3600 for s in spans] == pytest.approx([60, 0, 120])
    assert [s.searched for s in spans] == [True, False, True]


def test_hold_time_adds_blocking_wrap_up_and_patience_gives_a_rate() -> None:
    """The estimate's service time is handle plus the wrap-up that keeps capacity (R33)."""
    arrival = {"workstream": "calls", "rate": "60/h", "handle_time": HANDLE, "wrap_up_s": 30,
               "patience": {"dist": "exponential", "mean_s": 120}}  # fmt: skip
    (only,) = staffing.intervals(parsed(with_(PLAIN, arrivals=[arrival])))
    assert (only.hold_s, only.patience_rate) == (90.0, pytest.approx(1 / 120))


def test_an_interval_inside_the_warmup_keeps_its_estimate() -> None:
    """Nothing counted: the search leaves it at the estimate."""
    pieces = [
        {"from": "0m", "to": "10m", "rate": "360/h"},
        {"from": "10m", "to": "1h", "rate": "360/h"},
    ]
    data = with_(
        PLAIN,
        duration="1h",
        arrivals=[{"workstream": "calls", "rate": pieces, "handle_time": HANDLE}],
    )
    first, _ = staffing.intervals(parsed(data))
    assert not first.searched


# -- headcount as template clones ----------------------------------------------------------------------


def test_clones_take_the_templates_in_turn_with_their_memberships() -> None:
    """Headcount 5 from [ann, bob]: ann#1 bob#1 ann#2 bob#2 ann#3, each in its template's queues."""
    loaded = parsed(PLAIN)
    staffed = staffing.with_headcount(loaded, staffing.intervals(loaded), [5])
    assert list(staffed.config.agents) == ["ann#1", "bob#1", "ann#2", "bob#2", "ann#3"]
    assert staffed.config.queues["q"].members == list(staffed.config.agents)
    assert staffed.config.queues["vip"].members == ["ann#1", "ann#2", "ann#3"]
    assert staffed.config.agents["ann#2"] == loaded.config.agents["ann"]


def test_shifts_put_the_first_n_clones_on_duty_and_the_last_staffed_stay_on() -> None:
    """Interval i has its first N_i clones; the last staffed interval's shift has no end."""
    pieces = [{"from": "0h", "to": "1h", "rate": "60/h"}, {"from": "1h", "to": "2h", "rate": "0/h"},
              {"from": "2h", "to": "3h", "rate": "60/h"}]  # fmt: skip
    loaded = parsed(
        with_(PLAIN, arrivals=[{"workstream": "calls", "rate": pieces, "handle_time": HANDLE}])
    )
    staffed = staffing.with_headcount(loaded, staffing.intervals(loaded), [2, 0, 3])
    assert [(s.agents, s.start_s, s.end_s) for s in staffed.shifts] == [
        (("ann#1", "bob#1"), 0.0, 3600.0),
        (("ann#1", "bob#1", "ann#2"), 7200.0, math.inf),
    ]


# -- the estimate and the search ---------------------------------------------------------------------


def test_the_estimate_is_erlang_c_without_patience_and_erlang_a_with_it() -> None:
    """Erlang C sizes a queue nobody leaves; Erlang A one that customers abandon."""
    target = queueing.parse_target("service_level>=0.8")
    (plain,) = staffing.intervals(parsed(PLAIN))
    assert staffing.erlang_estimate(plain, target) == (
        "erlang_c",
        queueing.min_agents_erlang_c(0.1, 1 / 60, target),
    )
    patient = {"workstream": "calls", "rate": "360/h", "handle_time": HANDLE,
               "patience": {"dist": "exponential", "mean_s": 30}}  # fmt: skip
    (impatient,) = staffing.intervals(parsed(with_(PLAIN, arrivals=[patient])))
    assert staffing.erlang_estimate(impatient, target) == (
        "erlang_a",
        queueing.min_agents_erlang_a(0.1, 1 / 60, 1 / 30, target),
    )


def test_the_headcount_found_is_the_smallest_that_meets_the_target_in_simulation() -> None:
    """The answer meets the target and one agent fewer does not, on the same random numbers."""
    loaded = parsed(PLAIN)
    target = staffing.parse_target("service_level>=0.8", loaded)
    (answer,) = staffing.staff(loaded, target).intervals
    spans = staffing.intervals(loaded)
    for headcount, expected in [(answer.headcount, True), (answer.headcount - 1, False)]:
        staffed = staffing.with_headcount(loaded, spans, [headcount])
        (per_replication,) = staffing.interval_kpis(staffed, spans)
        assert staffing.meets(target, staffing.pooled(per_replication)) is expected, headcount
    assert answer.met and answer.kpis["service_level"] >= 0.8


def test_a_plain_case_agrees_with_erlang_c_within_one_agent() -> None:
    """M/M/c traffic: simulation confirms the Erlang C headcount to within one agent."""
    loaded = parsed(with_(PLAIN, duration="6h", replications=2))
    target = staffing.parse_target("asa_s<=15", loaded)
    (answer,) = staffing.staff(loaded, target).intervals
    erlang = queueing.min_agents_erlang_c(0.1, 1 / 60, target)
    assert answer.estimate == erlang
    assert abs(answer.headcount - erlang) <= 1
    assert answer.kpis["asa_s"] <= 15 and "asa_s_ci95" in answer.kpis


def test_busier_intervals_get_more_agents_and_an_abandon_target_uses_erlang_a() -> None:
    """Two pieces, customers with patience, target abandon_rate<=0.05."""
    pieces = [
        {"from": "0h", "to": "1h", "rate": "120/h"},
        {"from": "1h", "to": "2h", "rate": "480/h"},
    ]
    arrival = {"workstream": "calls", "rate": pieces, "handle_time": HANDLE,
               "patience": {"dist": "exponential", "mean_s": 90}}  # fmt: skip
    loaded = parsed(with_(PLAIN, duration="2h", warmup="10m", arrivals=[arrival]))
    target = staffing.parse_target("abandon_rate<=0.05", loaded)
    quiet, busy = staffing.staff(loaded, target).intervals
    assert (quiet.model, busy.model) == ("erlang_a", "erlang_a")
    assert busy.headcount > quiet.headcount >= 1
    assert quiet.met and busy.met
    assert busy.kpis["abandon_rate"] <= 0.05


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["service_level>0.8", "servicelevel>=0.8", "service_level>=1.5", "asa_s>=30", "asa_s<=soon",
     "abandon_rate<=0.05", ""],
)  # fmt: skip
def test_a_bad_target_is_one_sentence_naming_the_option(tmp_path: Path, text: str) -> None:
    """Bad input (SPEC §10): exit 1, one line on stderr that names --target, nothing printed."""
    code, out, err = run("staff", str(write(tmp_path, PLAIN)), "--target", text)
    assert (code, out) == (1, "")
    assert err.startswith("--target: ") and err.count("\n") == 1, err


def test_a_scenario_without_arrivals_cannot_be_staffed() -> None:
    """Staffing sizes generated traffic; a purely scripted scenario is refused by field."""
    loaded = parsed({"config": CONFIG, "duration": "1h"})
    with pytest.raises(ConfigError, match="arrivals"):
        staffing.staff(loaded, queueing.parse_target("asa_s<=30"))


# -- the command --------------------------------------------------------------------------------------


def test_staff_prints_a_table_with_one_line_per_interval(tmp_path: Path) -> None:
    """The table shows the estimate, the headcount and the KPIs it achieves."""
    code, out, err = run("staff", str(write(tmp_path, PLAIN)), "--target", "service_level>=0.8")
    assert (code, err) == (0, "")
    header, columns, row = out.splitlines()
    assert header.startswith("Staffing for service_level>=0.8 (answered within 20 s); seed 5")
    assert columns.split()[:4] == ["interval", "arrivals/h", "estimate", "headcount"]
    assert row.startswith("0:00-3:00") and row.endswith("yes")


def test_staff_json_comes_from_the_environment_too(tmp_path: Path) -> None:
    """--json, with --target from UNIROUTER_TARGET (SPEC §6.2)."""
    path = write(tmp_path, PLAIN)
    code, out, err = run("staff", str(path), "--json", env={"UNIROUTER_TARGET": "asa_s<=20"})
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["target"], data["seed"], data["replications"]) == ("asa_s<=20", 5, 1)
    (interval,) = data["intervals"]
    assert interval["model"] == "erlang_c" and interval["met"] is True
    assert interval["kpis"]["asa_s"] <= 20 and interval["headcount"] >= 1


def test_staff_runs_as_a_real_process(tmp_path: Path) -> None:
    """The installed console script prints the same JSON as the in-process command."""
    script = Path(sys.executable).parent / "unirouter"
    if not script.exists():
        pytest.skip("the unirouter console script is not installed beside this interpreter")
    path = write(tmp_path, PLAIN)
    args = ["staff", str(path), "--target", "service_level>=0.8", "--json", "--seed", "9"]
    done = subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == json.loads(run(*args)[1])
