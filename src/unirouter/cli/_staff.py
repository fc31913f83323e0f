"""``unirouter staff SCENARIO.yaml --target "service_level>=0.8"`` (SPEC §6.2): a shell over
:mod:`unirouter.sim.staffing`.

Listed in :data:`unirouter.cli.COMMANDS`, which imports this module when it runs. A bad target or
scenario is a :class:`~unirouter.errors.ConfigError`, printed by the root group's error table as
one sentence per problem (``--target: ...``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from unirouter.cli._shared import CONTEXT
from unirouter.sim import progress, queueing, scenario, staffing

__all__ = ["report", "staff"]

_TARGET_HELP = (
    'The KPI to meet in every interval: "service_level>=0.8", "asa_s<=30" or "abandon_rate<=0.05".'
)


@click.command("staff", context_settings=CONTEXT)
@click.argument("scenario_file", metavar="SCENARIO.yaml", type=click.Path(path_type=Path))
@click.option("--target", required=True, metavar="TARGET", help=_TARGET_HELP)
@click.option("--seed", type=int, help="Seed of the simulations (overrides the file's).")
@click.option(
    "--max-agents",
    type=click.IntRange(min=1),
    default=staffing.MAX_AGENTS,
    show_default=True,
    help="Give up on an interval above this headcount.",
)
@click.option(
    "--replications",
    type=click.IntRange(min=1),
    help=f"Runs per headcount tried (default: the scenario's, at least {staffing.MIN_REPLICATIONS}).",
)
@click.option(
    "--max-abandon",
    type=click.FloatRange(min=0.0, max=1.0),
    default=staffing.MAX_ABANDON,
    show_default=True,
    help="A service level or ASA target counts as met only up to this abandon rate (1: no bound).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def staff(
    scenario_file: Path,
    target: str,
    seed: int | None,
    max_agents: int,
    replications: int | None,
    max_abandon: float,
    as_json: bool,
) -> None:
    """The smallest headcount per interval of SCENARIO.yaml that meets --target.

    Intervals are the pieces of the arrival rates (the whole run for a plain rate). Each starts
    from the Erlang C estimate (Erlang A when customers abandon) and is confirmed by simulating the
    real engine with the scenario's replications; the configuration's agents are templates,
    cloned as many times as the headcount says. A service level or ASA target is met only while
    the abandon rate stays within --max-abandon. A progress bar shows on a terminal (standard
    error). See docs/staffing.md.
    """
    loaded = scenario.load(scenario_file)
    goal = staffing.parse_target(target, loaded)
    with _bar(show=progress.wanted(stdout=sys.stdout, stream=sys.stderr)) as step:
        result = staffing.staff(
            loaded,
            goal,
            seed=seed,
            max_agents=max_agents,
            max_abandon=None if max_abandon >= 1.0 else max_abandon,
            replications=replications,
            progress=step,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(report(result))


@contextmanager
def _bar(*, show: bool) -> Iterator[staffing.ProgressCallback | None]:
    """A progress callback drawing click's bar on standard error, or ``None`` when not shown."""
    if not show:
        yield None
        return
    with click.progressbar(
        length=1, label="Staffing", file=sys.stderr, show_pos=True, show_eta=True
    ) as bar:

        def step(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield step


_COLUMNS = (
    ("interval", 13), ("arrivals/h", 10), ("estimate", 10), ("headcount", 9),
    ("service_level", 13), ("asa_s", 8), ("abandon_rate", 12), ("answered", 8), ("met", 3),
)  # fmt: skip


def report(result: staffing.StaffingResult) -> str:
    """A table: one line per interval with the estimate, the headcount found and its KPIs."""
    target = result.target
    within = (
        f" (answered within {target.threshold_s:g} s)"
        if target.metric is queueing.Metric.SERVICE_LEVEL
        else ""
    )
    runs = "replication" if result.replications == 1 else "replications"
    lines = [
        f"Staffing for {target}{within}; seed {result.seed}, {result.replications} {runs}, "
        f"{result.simulations} simulation runs.",
        "  ".join(name.rjust(width) if i else name.ljust(width) for i, (name, width) in
                  enumerate(_COLUMNS)),
    ]  # fmt: skip
    lines.extend(_row(answer) for answer in result.intervals)
    if any(not a.interval.searched for a in result.intervals):
        lines.append("* not simulated (no arrivals, or inside the warm-up): the estimate is kept.")
    missed = [a for a in result.intervals if not a.met]
    if missed:
        lines.append(f"Not met in {len(missed)} interval(s), even at the headcount shown.")
    if result.max_abandon is not None:
        lines.append(
            f"{target} counts as met only while at most {result.max_abandon:.1%} of customers "
            "abandon (--max-abandon)."
        )
    for answer in result.intervals:
        iv = answer.interval
        lines.extend(
            f"warning: {_clock(iv.start_s)}-{_clock(iv.end_s)}: {text}." for text in answer.warnings
        )
    return "\n".join(lines)


def _row(answer: staffing.IntervalStaffing) -> str:
    iv, kpis = answer.interval, answer.kpis
    letter = "A" if answer.model == "erlang_a" else "C"
    cells = [
        f"{_clock(iv.start_s)}-{_clock(iv.end_s)}",
        f"{iv.arrival_rate * 3600:.1f}",
        f"{answer.estimate} ({letter})",
        str(answer.headcount) if iv.searched else f"{answer.headcount}*",
        _number(kpis.get("service_level"), "{:.3f}"),
        _number(kpis.get("asa_s"), "{:.1f}"),
        _number(kpis.get("abandon_rate"), "{:.3f}"),
        _number(kpis.get("answered"), "{:g}"),
        "yes" if answer.met else "no",
    ]
    return "  ".join(
        cell.rjust(width) if i else cell.ljust(width)
        for i, (cell, (_, width)) in enumerate(zip(cells, _COLUMNS, strict=True))
    )


def _clock(seconds: float) -> str:
    """``2:30`` for 9000 s; seconds are shown only when the boundary is not a whole minute."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _number(value: object, form: str) -> str:
    return "-" if not isinstance(value, int | float) else form.format(value)
