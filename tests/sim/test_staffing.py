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
    loaded = parsed(with_(PLAIN, replications=2))
    target = staffing.parse_target("service_level>=0.8", loaded)
    (answer,) = staffing.staff(loaded, target, replications=2).intervals
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
    code, out, err = run(
        "staff",
        str(write(tmp_path, PLAIN)),
        "--target",
        "service_level>=0.8",
        "--replications",
        "2",
    )
    assert (code, err) == (0, "")
    header, columns, row = out.splitlines()[:3]
    assert header.startswith("Staffing for service_level>=0.8 (answered within 20 s); seed 5")
    assert columns.split()[:4] == ["interval", "arrivals/h", "estimate", "headcount"]
    assert row.startswith("0:00-3:00") and row.endswith("yes")
    assert "abandon (--max-abandon)" not in out  # nobody abandons: no bound to state


def test_staff_json_comes_from_the_environment_too(tmp_path: Path) -> None:
    """--json, with --target from UNIROUTER_TARGET (SPEC §6.2); a scenario of one replication is
    staffed with the default of ten (issue 16 item 6: one run answers for its seed only)."""
    path = write(tmp_path, PLAIN)
    code, out, err = run("staff", str(path), "--json", env={"UNIROUTER_TARGET": "asa_s<=20"})
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["target"], data["seed"]) == ("asa_s<=20", 5)
    assert (data["replications"], data["max_abandon"]) == (staffing.MIN_REPLICATIONS, None)
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
    args += ["--replications", "2"]
    done = subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == json.loads(run(*args)[1])


# -- answers that cannot mislead (issue 16 item 6) ------------------------------------------------------

#: Impatient callers (40 s on average): with few agents most hang up, which keeps the ASA short.
IMPATIENT = with_(
    PLAIN,
    arrivals=[
        {"workstream": "calls", "rate": "360/h", "handle_time": HANDLE,
         "patience": {"dist": "exponential", "mean_s": 40}}
    ],
)  # fmt: skip


def test_an_asa_target_is_not_met_while_customers_abandon_beyond_the_bound() -> None:
    """Without the abandon bound, asa_s<=30 is 'met' by a headcount that loses a third of the
    callers or more; with it (the default, 5%) the answer keeps abandonment within the bound."""
    loaded = parsed(IMPATIENT)
    target = staffing.parse_target("asa_s<=30", loaded)
    (unbounded,) = staffing.staff(loaded, target, replications=2, max_abandon=None).intervals
    assert unbounded.met and unbounded.kpis["abandon_rate"] > 0.25
    (bounded,) = staffing.staff(loaded, target, replications=2).intervals
    assert bounded.met and bounded.kpis["abandon_rate"] <= staffing.MAX_ABANDON
    assert bounded.headcount > unbounded.headcount
    assert bounded.estimate > unbounded.estimate  # Erlang A sizes the abandon bound too


def test_the_reasons_an_interval_fails_name_each_bound() -> None:
    target = queueing.parse_target("asa_s<=30")
    measured = {"arrived": 100, "asa_s": 12.0, "abandon_rate": 0.27}
    (reason,) = staffing.failures(target, measured, max_abandon=0.05)
    assert reason == "27.0% of customers abandon, above the 5.0% allowed (--max-abandon)"
    assert staffing.meets(target, measured) and not staffing.meets(
        target, measured, max_abandon=0.05
    )
    slow = {"arrived": 100, "asa_s": 45.0, "abandon_rate": 0.01}
    assert staffing.failures(target, slow, max_abandon=0.05) == ["asa_s<=30 is not met (asa_s 45)"]
    # An abandon-rate target is its own bound.
    own = queueing.parse_target("abandon_rate<=0.3")
    assert staffing.abandon_bound(own, 0.05) is None


def test_a_close_call_is_a_warning_when_the_interval_crosses_the_bound() -> None:
    target = queueing.parse_target("service_level>=0.8")
    close = {"arrived": 900, "service_level": 0.81, "service_level_ci95": 0.02}
    clear = {"arrived": 900, "service_level": 0.85, "service_level_ci95": 0.02}
    warning = staffing.close_call(target, close)
    assert warning is not None and warning.startswith(
        "close call: the 95% interval of service_level"
    )
    assert staffing.close_call(target, clear) is None


def test_a_failing_interval_is_shown_with_its_reason_in_the_table(tmp_path: Path) -> None:
    """At the --max-agents ceiling the bound cannot be kept: the table says so, line by line."""
    path = write(tmp_path, IMPATIENT)
    code, out, err = run(
        "staff", str(path), "--target", "asa_s<=30", "--replications", "2", "--max-agents", "4"
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[2].endswith("no")
    assert "asa_s<=30 counts as met only while at most 5.0% of customers abandon" in out
    assert "Not met in 1 interval(s), even at the headcount shown." in lines
    assert any(
        line.startswith("warning: 0:00-3:00: ") and "of customers abandon, above the 5.0%" in line
        for line in lines
    ), out


def test_progress_goes_from_nothing_to_every_step() -> None:
    loaded = parsed(with_(PLAIN, duration="1h", warmup="10m"))
    calls: list[tuple[int, int]] = []
    staffing.staff(
        loaded,
        queueing.parse_target("asa_s<=20"),
        replications=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[0] == (0, 2) and calls[-1] == (2, 2)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_staff_on_a_terminal_draws_a_progress_bar_on_standard_error(tmp_path: Path) -> None:
    """A real process on a pseudo-terminal: the bar is drawn to the end; the table follows."""
    import os
    import pty

    script = Path(sys.executable).parent / "unirouter"
    if not script.exists():
        pytest.skip("the unirouter console script is not installed beside this interpreter")
    path = write(tmp_path, with_(PLAIN, duration="1h", warmup="10m"))
    leader, follower = pty.openpty()
    args = [str(script), "staff", str(path), "--target", "asa_s<=20", "--replications", "1"]
    with subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower) as process:
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the follower side closed: the process is done
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=120) == 0
    os.close(leader)
    text = seen.decode()
    assert "Staffing  [" in text and "2/2" in text, text
    assert "Staffing for asa_s<=20" in text


def test_the_bundled_example_day_runs_inside_its_queues_opening_hours() -> None:
    """demo_traffic.yaml's arrivals fall on the working day of its queues' calendars (issue 16
    item 6): a run outside them would route most chats to the out-of-hours overflow."""
    from datetime import timedelta
    from importlib import resources

    from unirouter.calendars import Calendar

    source = resources.files("unirouter").joinpath("examples", "demo_traffic.yaml")
    with resources.as_file(source) as file:
        day = scenario.load(file)
    hours = {q.operating_hours for q in day.config.queues.values() if q.operating_hours}
    assert hours
    for name in hours:
        calendar = Calendar.from_def(day.config.calendars[name])
        first, last = day.start, day.start + timedelta(seconds=day.duration - 1)
        assert calendar.is_open(first) and calendar.is_open(last), name
        assert calendar.next_change(first) is None or calendar.next_change(first) > last
