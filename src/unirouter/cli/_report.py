"""``unirouter report``: the historical reports of a server's store, without a server (issue 13).

The store is read once through the storage port (SQLite, PostgreSQL, memory alike) into the same
:class:`~unirouter.analytics.fold.LogFold` the server keeps live, so the CLI and
``GET /v1/reports/…`` agree figure for figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from unirouter import storage
from unirouter.analytics import fold, tables, windows
from unirouter.cli._shared import CONTEXT

__all__ = ["report"]

#: Log records read per page.
PAGE = 5000

#: The columns of ``--format table`` (CSV, JSON and Parquet carry every KPI).
QUEUE_COLUMNS = ("from", "scope", "name", "arrived", "answered", "abandoned", "service_level",
                 "abandon_rate", "asa_s", "aht_s", "max_wait_s")  # fmt: skip
AGENT_COLUMNS = ("from", "scope", "name", "occupancy", "utilisation", "handled", "offers",
                 "declines", "expiries")  # fmt: skip


@click.command("report", context_settings=CONTEXT)
@click.option("--db", default="./unirouter.db", show_default=True, help="The store's URL.")
@click.option("--from", "start", metavar="T", help="Unix seconds or ISO 8601 (default: the start).")
@click.option("--to", "end", metavar="T", help="Unix seconds or ISO 8601 (default: the end).")
@click.option("--by", metavar="15m|1h|1d", help="Cut the window into intervals.")
@click.option("--of", "kind", type=click.Choice(["queues", "agents"]), default="queues",
              show_default=True, help="Queue and workstream KPIs, or agent and group KPIs.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]),
              default="table", show_default=True)  # fmt: skip
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output (required for parquet).")  # fmt: skip
def report(
    db: str, start: str | None, end: str | None, by: str | None, kind: str, fmt: str,
    output: Path | None,
) -> None:  # fmt: skip
    """SPEC §8 KPIs of the store's log over a window, per interval with --by."""
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet writes a file: give --output FILE.parquet")
    begin, until = windows.parse_time(start, "from"), windows.parse_time(end, "to")
    store = storage.open_store(db)
    try:
        log = _fold_store(store, fold.LogFold())
    finally:
        store.close()
    now = log.last
    span = log.window(begin, until, by, now)
    body = log.agents(span, now) if kind == "agents" else log.queues(span, now)
    rows = tables.rows(body)
    if fmt == "parquet":
        assert output is not None
        tables.to_parquet(rows, output)
        return
    columns = AGENT_COLUMNS if kind == "agents" else QUEUE_COLUMNS
    text = {"json": lambda: tables.to_json(body), "csv": lambda: tables.to_csv(rows),
            "table": lambda: tables.to_table(rows, columns)}[fmt]()  # fmt: skip
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")


def _fold_store(store: storage.Store, log: fold.LogFold) -> fold.LogFold:
    """``log`` fed everything ``store`` holds, read once in pages through the storage port."""
    after = 0
    while page := store.read(after, PAGE):
        for record in page:
            body = json.loads(record.body)
            if record.kind is storage.RecordKind.COMMAND:
                log.command(body)
            else:
                log.event(body)
        after = page[-1].cursor
    return log
