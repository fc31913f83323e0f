"""Reports as rows: one row per interval and scope, written as CSV, a text table, JSON or Parquet.

A queue report has the scopes ``total``, ``queue`` and ``workstream``; an agent report ``agent`` and
``group``. Each row starts with the interval (``from``, ``to`` as ISO 8601 UTC), ``scope`` and
``name``, then the KPIs of SPEC §8 under their JSON names; an agent's time per presence becomes
one column per presence, ``presence_s.NAME``. A report without intervals has one interval, the
window.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from unirouter import errors

__all__ = ["MissingExtra", "iso", "rows", "to_csv", "to_json", "to_parquet", "to_table"]

Row = dict[str, Any]


class MissingExtra(errors.UnirouterError):
    """An output format whose optional library is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"writing Parquet needs {package}: pip install 'unirouter[{extra}]' (or {package})"
        )


def iso(t: float) -> str:
    """Unix seconds as ISO 8601 UTC (``2026-12-03T09:15:00Z``)."""
    text = datetime.fromtimestamp(t, UTC).isoformat()
    return text.replace("+00:00", "Z")


def rows(report: Mapping[str, Any]) -> list[Row]:
    """The rows of a queue or agent report (the JSON of :class:`~unirouter.analytics.fold.LogFold`)."""
    parts = report.get("intervals") or [report]
    out = [row for part in parts for row in _part_rows(part)]
    presences = sorted({k for row in out for k in row if k.startswith("presence_s.")})
    for row in out:
        for key in presences:
            row.setdefault(key, 0.0)
    return out


def _part_rows(part: Mapping[str, Any]) -> Iterator[Row]:
    head = {"from": iso(part["from"]), "to": iso(part["to"])}
    if "totals" in part:
        yield {**head, "scope": "total", "name": "", **part["totals"]}
    for scope, key in (("queue", "queues"), ("workstream", "workstreams"),
                       ("agent", "agents"), ("group", "groups")):  # fmt: skip
        for name, kpis in part.get(key, {}).items():
            yield {**head, "scope": scope, "name": name, **_flat(kpis)}


def _flat(kpis: Mapping[str, Any]) -> Row:
    out = {k: v for k, v in kpis.items() if k != "presence_s"}
    for presence, seconds in sorted(kpis.get("presence_s", {}).items()):
        out[f"presence_s.{presence}"] = seconds
    return out


def columns(table: Sequence[Row]) -> list[str]:
    """Every column of ``table`` in first-seen order."""
    seen: dict[str, None] = {}
    for row in table:
        seen.update(dict.fromkeys(row))
    return list(seen)


def to_csv(table: Sequence[Row]) -> str:
    """RFC 4180 CSV with a header row; a KPI that is undefined (null) is an empty cell."""
    buffer = io.StringIO()
    # Every key of every row is a column: the per-row check for unknown keys is skipped.
    writer = csv.DictWriter(
        buffer, fieldnames=columns(table), lineterminator="\r\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2)


def to_table(table: Sequence[Row], keys: Sequence[str] | None = None) -> str:
    """A text table of the main columns (all of them with ``keys=None``), aligned for a terminal."""
    keys = list(keys or columns(table))
    cells = [[_cell(row.get(key)) for key in keys] for row in table]
    widths = [max([len(key), *(len(line[i]) for line in cells)]) for i, key in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def to_parquet(table: Sequence[Row], path: Path) -> None:
    """Write ``table`` as a Parquet file with pyarrow (the ``parquet`` extra)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra("pyarrow", "parquet") from None
    keys = columns(table)
    arrays = {key: [row.get(key) for row in table] for key in keys}
    pq.write_table(pa.table(arrays), str(path))
