"""The page of ``unirouter compare --report``: the configurations' KPIs side by side with their
95% half-widths, and the simulator report's charts of each configuration next to each other."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from unirouter.sim import _report_plots, report

__all__ = ["KPIS", "render"]

#: The KPIs set side by side, in this order.
KPIS = ("arrived", "answered", "abandoned", "service_level", "abandon_rate", "asa_s",
        "mean_wait_s", "aht_s", "max_wait_s", "occupancy", "utilisation", "handled")  # fmt: skip


def render(
    names: Sequence[str], runs: Sequence[Mapping[str, Any]], recorded: Mapping[str, Any]
) -> str:
    """The comparison page of ``runs`` (report data of each configuration, in ``names`` order)."""
    body = [f"<header><h1>Replay comparison</h1><p>{_e(' vs '.join(names))}</p></header>"]
    for scope in ("totals", "queues", "workstreams", "groups"):
        body.append(_table(scope, names, runs, recorded))
    charts = [_report_plots.charts(run) for run in runs]
    for row in zip(*charts, strict=True):
        cells = "".join(
            f"<div><h3>{_e(n)}</h3>{report.figure(c)}</div>"
            for n, c in zip(names, row, strict=True)
        )
        body.append(f'<section class="side">{cells}</section>')
    return report.page("Replay comparison", body)


def _table(scope: str, names: Sequence[str], runs: Sequence[Mapping[str, Any]],
           recorded: Mapping[str, Any]) -> str:  # fmt: skip
    head = "".join(f"<th>{_e(n)}</th>" for n in ["scope", "KPI", "recorded", *names])
    rows = []
    for name, kpi, values in side_by_side(scope, runs, recorded):
        cells = "".join(f"<td>{_e(v)}</td>" for v in [name, kpi, *values])
        rows.append(f"<tr>{cells}</tr>")
    return f"<h2>{_e(scope)}</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def side_by_side(
    scope: str, runs: Sequence[Mapping[str, Any]], recorded: Mapping[str, Any]
) -> list[tuple[str, str, list[str]]]:
    """Rows (scope name, KPI, [recorded, run 1 ± ci, run 2 ± ci, …]) of one scope."""

    def parts(data: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
        value = data.get(scope) or {}
        return {"total": value} if scope == "totals" else value

    names = sorted({n for run in runs for n in parts(run)})
    out = []
    for name in names:
        for kpi in KPIS:
            if all(kpi not in parts(run).get(name, {}) for run in runs):
                continue
            cells = [_fmt(parts(recorded).get(name, {}).get(kpi), None)]
            cells += [
                _fmt(parts(run).get(name, {}).get(kpi), parts(run).get(name, {}).get(f"{kpi}_ci95"))
                for run in runs
            ]
            out.append((name, kpi, cells))
    return out


def _fmt(value: object, ci: object) -> str:
    if value is None:
        return "–"
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if not isinstance(ci, float) else f"{text} ± {ci:.2g}"


def _e(text: object) -> str:
    return html.escape(str(text))
