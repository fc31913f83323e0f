"""``unirouter capture``, ``unirouter replay`` and ``unirouter compare`` (issue 13, docs/replay.md).

Listed in :data:`unirouter.cli.COMMANDS`; the heavy modules are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from unirouter.cli._shared import CONTEXT

__all__ = ["capture", "compare", "replay"]

_SUMMARY = ("arrived", "answered", "abandoned", "service_level", "asa_s", "aht_s")


@click.command("capture", context_settings=CONTEXT)
@click.option("--db", help="A server's store (sqlite:///FILE.db, postgresql://…, FILE.db).")
@click.option("--events", "events_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A simulator events file (unirouter simulate --events) instead of --db.")  # fmt: skip
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="With --events: the configuration (or scenario) the simulation ran.")  # fmt: skip
@click.option("--from", "start", metavar="T", help="Unix seconds or ISO 8601 (default: the start).")
@click.option("--to", "end", metavar="T", help="Unix seconds or ISO 8601 (default: the end).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output.")  # fmt: skip
def capture(
    db: str | None, events_file: Path | None, config_file: Path | None, start: str | None,
    end: str | None, output: Path | None,
) -> None:  # fmt: skip
    """Write the demand of a window as JSON lines: items, their handle times and patience, and the
    agents' presence timeline (format version 1, docs/replay.md)."""
    from unirouter import storage
    from unirouter.analytics import windows
    from unirouter.whatif import capture as captures

    begin, until = windows.parse_time(start, "from"), windows.parse_time(end, "to")
    if (db is None) == (events_file is None):
        raise click.UsageError("give either --db URL or --events FILE.jsonl")
    if db is not None:
        store = storage.open_store(db)
        try:
            taken = captures.from_store(store, begin, until, source=db)
        finally:
            store.close()
    else:
        assert events_file is not None
        if config_file is None:
            raise click.UsageError("--events needs --config FILE (the configuration it ran)")
        config, epoch = load_config(config_file), scenario_start(config_file)
        events = _events(events_file)
        taken = captures.from_events(events, config, begin, until, str(events_file), epoch)
    _write(output, captures.lines(taken))


def _events(path: Path) -> Any:
    """The events of a simulator ``--events`` file, each with ``seq``, ``t`` and ``type``."""
    from unirouter.whatif import demand

    with path.open(encoding="utf-8") as stream:
        for number, body in demand.json_lines(str(path), stream):
            for key in ("seq", "t", "type"):
                if key not in body:
                    raise demand.CaptureError(str(path), number, key, "is missing")
            yield body


def _write(output: Path | None, lines: Any) -> None:
    stream = sys.stdout if output is None else output.open("w", encoding="utf-8")
    try:
        for line in lines:
            stream.write(line + "\n")
    finally:
        if output is not None:
            stream.close()


def _scenario(path: Path) -> Any:
    """The scenario in ``path`` if it is a scenario file (``config:`` beside ``duration`` or
    ``arrivals``), else None."""
    from unirouter.config import bounded
    from unirouter.errors import ConfigError
    from unirouter.sim import scenario

    try:
        data = (
            bounded.parse_yaml(path.read_text(encoding="utf-8"), str(path))[1]
            if path.is_file()
            else None
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ConfigError):
        data = None  # not a readable scenario: read as a configuration, which says what is wrong
    if isinstance(data, dict) and "config" in data and ("duration" in data or "arrivals" in data):
        return scenario.load(path)
    return None


def load_config(path: Path) -> Any:
    """A configuration file, or the configuration of a scenario file (its ``config:``)."""
    from unirouter import config as cfg

    found = _scenario(path)
    return cfg.load(path) if found is None else found.config


def scenario_start(path: Path) -> Any:
    """The ``start`` of a scenario file (the simulator's default start for a configuration)."""
    from unirouter.sim import scenario

    found = _scenario(path)
    return scenario.DEFAULT_START if found is None else found.start


_AGENTS_HELP = "as-recorded (the presence timeline of the capture) or a scenario file's shifts."


@click.command("replay", context_settings=CONTEXT)
@click.argument("day", metavar="DAY.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path))
@click.option("--agents", default="as-recorded", show_default=True, help=_AGENTS_HELP)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the simulator's HTML report of the replay.")  # fmt: skip
def replay(
    day: Path, config_file: Path, agents: str, seed: int, as_json: bool, report_file: Path | None
) -> None:
    """Run the captured day through a configuration: the real engine in virtual time."""
    from unirouter.sim import report
    from unirouter.whatif import demand
    from unirouter.whatif import replay as replays

    capture = demand.read(day)
    done = replays.replay(capture, load_config(config_file), agents=agents, seed=seed)
    _warn_skips(done.skipped)
    if report_file is not None:
        text = config_file.read_text(encoding="utf-8") if config_file.is_file() else ""
        report.write_report(report_file, done.result.report_data(), text, name=config_file.name)
    if as_json:
        click.echo(json.dumps({**done.to_dict(), "recorded": capture.recorded}))
        return
    click.echo(_summary([("recorded", capture.recorded), (config_file.name, done.to_dict())]))


@click.command("compare", context_settings=CONTEXT)
@click.argument("day", metavar="DAY.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config_files", required=True, multiple=True,
              type=click.Path(path_type=Path), help="Give it twice or more.")  # fmt: skip
@click.option("--agents", default="as-recorded", show_default=True, help=_AGENTS_HELP)
@click.option("--replications", type=click.IntRange(min=2), default=10, show_default=True,
              help="Replications with resampled handle times (the first keeps the recorded).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an HTML page with the configurations side by side.")  # fmt: skip
def compare(
    day: Path, config_files: tuple[Path, ...], agents: str, replications: int, seed: int,
    as_json: bool, report_file: Path | None,
) -> None:  # fmt: skip
    """SPEC §8 KPIs of two or more configurations on the same captured day, side by side, with
    95% confidence half-widths over replications."""
    from unirouter.whatif import compare_page, demand
    from unirouter.whatif import replay as replays

    if len(config_files) < 2:
        raise click.UsageError("compare needs --config at least twice")
    capture = demand.read(day)
    runs = [replays.replay(capture, load_config(path), agents=agents, seed=seed,
                           replications=replications) for path in config_files]  # fmt: skip
    for run in runs:
        _warn_skips(run.skipped)
    names = [str(path) for path in config_files]
    if report_file is not None:
        data = [run.result.report_data() for run in runs]
        report_file.write_text(compare_page.render(names, data, capture.recorded), encoding="utf-8")
    if as_json:
        body = {"recorded": capture.recorded, "replications": replications,
                "configs": {name: run.to_dict() for name, run in zip(names, runs, strict=True)}}  # fmt: skip
        click.echo(json.dumps(body))
        return
    click.echo(_summary([("recorded", capture.recorded),
                         *((p.name, r.to_dict()) for p, r in zip(config_files, runs, strict=True))]))  # fmt: skip


def _warn_skips(skipped: dict[str, int]) -> None:
    for why, count in sorted(skipped.items()):
        click.echo(f"skipped {count} item(s): {why}", err=True)


def _summary(columns: list[tuple[str, dict[str, Any]]]) -> str:
    """The totals and per-queue headline KPIs, one column per run."""
    from unirouter.whatif import compare_page

    lines = []
    rows = compare_page.side_by_side("totals", [c for _, c in columns[1:]], columns[0][1])
    rows += compare_page.side_by_side("queues", [c for _, c in columns[1:]], columns[0][1])
    header = ["scope", "KPI", *(name for name, _ in columns)]
    table = [header] + [[n, k, *v] for n, k, v in rows if k in _SUMMARY]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)
