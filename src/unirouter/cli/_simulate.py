"""``unirouter simulate`` and ``unirouter demo`` (SPEC §6.2, §7): shells over the scenario runner.

Listed in :data:`unirouter.cli.COMMANDS`, which imports this module when one of them runs. Errors the library
raises on purpose (a bad scenario is a :class:`~unirouter.errors.ConfigError` with field paths) are
turned into sentences by the root group's one error table.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any

import click

from unirouter.cli._shared import CONTEXT
from unirouter.sim import narrate, progress, report, results, runner, scenario

__all__ = ["DEMO_SCENARIO", "demo", "simulate"]

#: The bundled scripted scenario ``unirouter demo`` runs.
DEMO_SCENARIO = "demo_scenario.yaml"


@click.command("simulate", context_settings=CONTEXT)
@click.argument("scenario_file", metavar="SCENARIO.yaml", type=click.Path(path_type=Path))
@click.option("--seed", type=int, help="Seed of the run's random draws (overrides the file's).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead of an account."
)
@click.option(
    "--events",
    "events_file",
    metavar="FILE.jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every engine event to this file, one JSON object per line.",
)
@click.option(
    "--report",
    "report_file",
    metavar="FILE.html",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report (charts, KPI tables) instead of the account.",
)
@click.option("--trace", is_flag=True, help="Keep every item's trace (R43) in the JSON output.")
def simulate(
    scenario_file: Path,
    seed: int | None,
    as_json: bool,
    events_file: Path | None,
    report_file: Path | None,
    trace: bool,
) -> None:
    """Run the scenario SCENARIO.yaml in virtual time against the real engine (SPEC §7).

    Scripted events, generated arrivals (with shifts, busyness and replications), or both.
    Prints a readable account (one line per event, then a summary), or with --json one object
    with the KPIs (totals, per queue, workstream, agent and group; with replications, pooled
    with 95% half-widths), the event counts, the refused actions, every scripted item's final
    state and, for generated traffic, the arrivals and counts of each replication. With
    --report (and no --json) the account is left out: a progress bar shows on a terminal, and
    one line says where the report went.
    """
    loaded = scenario.load(scenario_file)
    with _events_sink(events_file) as sink, _events_sink(report_file) as report_sink:
        observers: list[runner.Observer] = [] if sink is None else [runner.EventsFile(sink)]
        if report_sink is not None and not as_json:
            result = _quiet(loaded, seed=seed, trace=trace, observers=observers)
            data = _report(report_sink, result, scenario_file)
            click.echo(f"Wrote {report_file}: {report.headline(data)}")
            for why in result.stopped:
                click.echo(f"warning: {why}", err=True)
            return
        if as_json:
            result = runner.run(loaded, seed=seed, trace=trace, observers=observers)
            click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
            for why in result.stopped:
                click.echo(f"warning: {why}", err=True)
            if report_sink is not None:
                _report(report_sink, result, scenario_file)
            return
        _narrated(loaded, seed=seed, trace=trace, observers=observers)


@click.command("demo", context_settings=CONTEXT)
@click.option("--scripted", is_flag=True,
              help="Instead: narrate the bundled scripted scenario in virtual time.")  # fmt: skip
@click.option("--seed", type=int, help="Seed of the traffic and the agents' draws.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop after this many seconds (default: run until Ctrl-C).")  # fmt: skip
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Time compression: gaps and handle times divided by it.")  # fmt: skip
@click.option("--db", default=None, help="Store URL or SQLite file (default: a new temp file).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port; 0 picks a free one.")  # fmt: skip
@click.option("--human", default="alice", show_default=True,
              help="The agent left to a person: no synthetic agent answers its offers.")  # fmt: skip
def demo(
    scripted: bool,
    seed: int | None,
    duration: float | None,
    speed: float,
    db: str | None,
    host: str,
    port: int,
    human: str,
) -> None:
    """Serve the bundled example configuration with live synthetic traffic and agents.

    A traffic generator replays the simulator's traffic model in real time, and synthetic agents
    answer offers over their WebSocket, all but one (--human) left for you to play. Prints the
    URLs and ready tokens; Ctrl-C stops it. With --scripted: narrate the bundled scripted
    scenario instead (about ten minutes of virtual time in a small contact centre:
    classification, a split, an overflow, a decline and re-offer, an expiry with a presence
    penalty, a pick, a transfer, park and resume with affinity, a scheduled callback and a
    time-to-live expiry).
    """
    if scripted:
        source = resources.files("unirouter").joinpath("examples", DEMO_SCENARIO)
        with resources.as_file(source) as path:
            loaded = scenario.load(path)
        _narrated(loaded, seed=seed, trace=False, observers=[])
        return
    from unirouter import demo as live

    options = live.DemoOptions(db=db, host=host, port=port, human=human, duration_s=duration,
                               speed=speed, seed=seed)  # fmt: skip
    try:
        live.run(options, lambda line: click.echo(line, nl=True))
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from None


def _narrated(
    loaded: scenario.Scenario, *, seed: int | None, trace: bool, observers: list[runner.Observer]
) -> None:
    """Run ``loaded`` with the narrator writing its account to standard output."""
    narrator = narrate.Narrator(loaded, click.echo, color=_is_terminal())
    narrator.header(loaded.seed if seed is None else seed)
    result = runner.run(
        loaded, seed=seed, trace=trace, explain=True, observers=[*observers, narrator]
    )
    narrator.summary(result)


def _quiet(
    loaded: scenario.Scenario, *, seed: int | None, trace: bool, observers: list[runner.Observer]
) -> results.RunResult:
    """Run ``loaded`` printing nothing, with a progress bar on standard error when both standard
    output and standard error are a terminal."""
    with contextlib.ExitStack() as stack:
        if progress.wanted(stdout=sys.stdout, stream=sys.stderr):
            bar = progress.Progress(
                duration_s=loaded.duration, replications=loaded.replications, stream=sys.stderr
            )
            observers = [*observers, stack.enter_context(bar)]
        return runner.run(loaded, seed=seed, trace=trace, observers=observers)


def _report(stream: IO[str], result: results.RunResult, source: Path) -> dict[str, Any]:
    """Write the ``--report`` page of ``result``, with the scenario text it came from; return
    the data it drew."""
    data = result.report_data()
    text = source.read_text(encoding="utf-8", errors="replace")
    report.write_report(stream, data, text, name=source.name)
    return data


@contextlib.contextmanager
def _events_sink(path: Path | None) -> Iterator[IO[str] | None]:
    """An output file (``--events``, ``--report``), opened for writing (or None); an unwritable
    path is a user error."""
    if path is None:
        yield None
        return
    try:
        stream = path.open("w", encoding="utf-8")
    except OSError as error:
        raise click.FileError(str(path), hint=error.strerror or str(error)) from None
    with stream:
        yield stream


def _is_terminal() -> bool:
    """Colour only for a terminal (click.echo would strip it elsewhere anyway)."""
    return sys.stdout.isatty()
