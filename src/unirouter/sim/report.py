"""The HTML report of a simulation run (SPEC §7 ``unirouter simulate --report FILE.html``).

:func:`write_report` writes one self-contained page: the charts of :mod:`unirouter.sim._report_plots`
embedded as SVG data (no external URL, script or font; the CSS is inline), the KPI tables of SPEC §8
(totals, queues, workstreams, agents, groups, each KPI ``x`` with its ``x_ci95`` when the run had
replications) and the scenario text that produced it, escaped.

``data`` is the run's report data (:meth:`~unirouter.sim.results.RunResult.report_data`): ``seed``,
``duration_s``, ``replications``, ``totals``, ``queues``, ``workstreams``, ``agents``, ``groups``,
``series`` and ``wait_histogram`` in the shapes of :meth:`~unirouter.analytics.kpis.KpiResult.to_dict`.
The page depends on nothing but ``data`` and the text: the same run gives the same bytes.

The module is a little over 400 lines because the page's stylesheet (about 40 lines) lives at its end:
the page must carry its CSS inline, and one string beside the markup it styles is easier to keep in
step than a package data file.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from unirouter import durations
from unirouter.sim import _report_plots

__all__ = ["MAX_REFUSALS", "PERCENT_KPIS", "headline", "render", "write_report"]

#: Refused actions listed in the report (all of them are in ``--json``).
MAX_REFUSALS = 200
#: KPIs shown as percentages (SPEC §8 ratios).
PERCENT_KPIS = frozenset({"p_wait", "service_level", "abandon_rate", "occupancy", "utilisation"})
_LABELS = {
    "arrived": "Arrived",
    "answered": "Answered",
    "abandoned": "Abandoned",
    "short_abandoned": "Short abandons",
    "expired": "Expired",
    "overflowed": "Overflowed",
    "overflow_ended": "Ended by overflow",
    "cancelled": "Cancelled",
    "asa_s": "ASA (s)",
    "mean_wait_s": "Mean wait (s)",
    "p_wait": "Waited",
    "service_level": "Service level",
    "abandon_rate": "Abandon rate",
    "aht_s": "AHT (s)",
    "max_wait_s": "Max wait (s)",
    "occupancy": "Occupancy",
    "utilisation": "Utilisation",
    "handled": "Handled",
    "offers": "Offers",
    "declines": "Declines",
    "expiries": "Expiries",
}
#: What each KPI means (SPEC §8), shown as the column header's tooltip and in the definitions.
_MEANINGS = {
    "asa_s": "Average speed of answer: mean wait of answered items.",
    "mean_wait_s": "Mean wait of every item that left the queue.",
    "p_wait": "Share of answered items that waited at all.",
    "service_level": "Answered within the queue's service_level_s ÷ (answered + abandoned).",
    "abandon_rate": "Abandoned ÷ (answered + abandoned); short abandons excluded from both.",
    "aht_s": "Average handle time: time assigned plus wrap-up time.",
    "short_abandoned": "Abandoned before the queue's short_abandon_s.",
    "occupancy": "Time with an item assigned or in wrap-up ÷ logged-in time.",
    "utilisation": "Time-integral of used capacity units ÷ of total units, while logged in.",
}
_TABLES = (
    ("totals", "Totals", "Scope"),
    ("queues", "Queues", "Queue"),
    ("workstreams", "Workstreams", "Workstream"),
    ("agents", "Agents", "Agent"),
    ("groups", "Groups", "Group"),
)
_CONTENTS = (
    ("charts", "Charts"),
    ("kpis", "KPIs"),
    ("refusals", "Refused actions"),
    ("scenario", "Scenario"),
)
_NONE = "–"
_PT_TO_PX = 4 / 3


def write_report(
    target: Path | str | IO[str],
    data: Mapping[str, Any],
    scenario_text: str,
    *,
    name: str | None = None,
) -> None:
    """Write the report of ``data`` to ``target`` (a path or an open text stream).

    ``name`` is how the page calls the scenario (its file name), ``scenario_text`` its source.
    """
    page = render(data, scenario_text, name=name)
    if isinstance(target, Path | str):
        with Path(target).open("w", encoding="utf-8", newline="\n") as stream:
            stream.write(page)
    else:
        target.write(page)


def render(data: Mapping[str, Any], scenario_text: str, *, name: str | None = None) -> str:
    """The report as one HTML document."""
    title = "Simulation report" + (f" · {name}" if name else "")
    body = [
        _header(data, name),
        _section("charts", "Charts", [_figure(chart) for chart in _report_plots.charts(data)]),
        _section("kpis", "KPIs", [_kpi_note(data), *_tables(data), _definitions()]),
        _section("refusals", "Refused actions", [_refusals(data.get("errors") or ())]),
        _section("scenario", "Scenario", [_scenario(scenario_text, name)]),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="generator" content="unirouter {_version()}">',
            f"<title>{_e(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            *body,
            f"<footer><p>Written by unirouter {_version()}.</p></footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def headline(data: Mapping[str, Any]) -> str:
    """One line on the run for the terminal: what ran, what arrived, the service level."""
    totals = data.get("totals") or {}
    replications = int(data.get("replications") or 1)
    parts = [_duration(data.get("duration_s"))]
    if replications > 1:
        parts[0] += f" × {replications} replications"
    for key, noun in (("arrived", "arrived"), ("answered", "answered")):
        if key in totals:
            parts.append(f"{_value(key, totals[key])} {noun}")
    if "service_level" in totals:
        parts.append(f"service level {_value('service_level', totals['service_level'])}")
    if "errors" in data:
        refused = len(data["errors"] or ())
        parts.append(f"{refused:,} refused action" + ("" if refused == 1 else "s"))
    return " · ".join(parts)


# -- the parts of the page --------------------------------------------------------------------------


def _header(data: Mapping[str, Any], name: str | None) -> str:
    """The title, what ran, and the run's headline KPIs."""
    totals = data.get("totals") or {}
    replications = int(data.get("replications") or 1)
    facts = [
        ("Scenario", _e(name) if name else _NONE),
        ("Seed", _e(str(data.get("seed", _NONE)))),
        ("Duration", _e(_duration(data.get("duration_s")))),
        ("Replications", str(replications)),
    ]
    if data.get("warmup_s"):
        facts.append(("Warm-up", _e(_duration(data.get("warmup_s")))))
    if data.get("arrivals_generated"):
        facts.append(("Arrivals generated", _value("arrivals", data["arrivals_generated"])))
    if "errors" in data:
        facts.append(("Refused actions", _value("errors", len(data["errors"] or ()))))
    for key in ("arrived", "answered", "service_level", "asa_s", "abandon_rate", "aht_s"):
        if key in totals:
            facts.append((_LABELS[key], _value(key, totals[key])))
    items = "".join(f"<div><dt>{label}</dt><dd>{value}</dd></div>" for label, value in facts)
    nav = "".join(f'<li><a href="#{anchor}">{text}</a></li>' for anchor, text in _CONTENTS)
    return (
        f"<header><h1>Simulation report</h1>"
        f'<dl class="facts">{items}</dl>'
        f'<nav aria-label="Contents"><ul>{nav}</ul></nav></header>'
    )


def _section(anchor: str, heading: str, parts: Iterable[str]) -> str:
    inner = "\n".join(parts)
    return (
        f'<section id="{anchor}" aria-labelledby="{anchor}-h">'
        f'<h2 id="{anchor}-h">{heading}</h2>\n{inner}\n</section>'
    )


def _figure(chart: _report_plots.Chart) -> str:
    """A chart as an ``<img>`` of embedded SVG data with its alt text and caption."""
    caption = f"<figcaption><strong>{_e(chart.title)}.</strong> {_e(chart.caption)}</figcaption>"
    if chart.svg is None:
        picture = f'<p class="empty">{_e(chart.alt)}</p>'
    else:
        encoded = base64.b64encode(chart.svg.encode("utf-8")).decode("ascii")
        width, height = _size(chart.svg)
        picture = (
            f'<img src="data:image/svg+xml;base64,{encoded}" alt="{_e(chart.alt)}"'
            f' width="{width}" height="{height}">'
        )
    return f'<figure id="chart-{chart.key}">{picture}{caption}</figure>'


def _kpi_note(data: Mapping[str, Any]) -> str:
    replications = int(data.get("replications") or 1)
    if replications <= 1:
        return "<p>One run. A dash means the KPI is undefined (nothing to divide by).</p>"
    return (
        f"<p>{replications} replications. Counts are means per replication; ratios and means are"
        " taken over the pooled items of all replications; “± x” is the 95% confidence half-width"
        " across replications. A dash means the KPI is undefined.</p>"
    )


def _tables(data: Mapping[str, Any]) -> list[str]:
    out = []
    for key, caption, row_label in _TABLES:
        rows = data.get(key) or {}
        if key == "totals":
            rows = {"All items": rows} if rows else {}
        out.append(_table(key, caption, row_label, rows))
    return out


def _table(key: str, caption: str, row_label: str, rows: Mapping[str, Mapping[str, Any]]) -> str:
    """One KPI table: a row per scope, a column per KPI (dictionaries spread over columns)."""
    heading = f'<h3 id="table-{key}-h">{caption}</h3>'
    if not rows:
        return f'{heading}<p class="empty">No {caption.lower()} in this run.</p>'
    columns = _columns(rows.values())
    head = "".join(
        f'<th scope="col" data-kpi="{_e(column)}"{_title(kpi)}>{_e(_label(kpi, sub))}</th>'
        for column, kpi, sub in columns
    )
    body = []
    for name, kpis in rows.items():
        cells = "".join(
            f'<td data-kpi="{_e(column)}">{_cell(kpi, sub, kpis)}</td>'
            for column, kpi, sub in columns
        )
        body.append(f'<tr><th scope="row">{_e(name)}</th>{cells}</tr>')
    return (
        f'{heading}<div class="scroll" role="region" aria-labelledby="table-{key}-h" tabindex="0">'
        f'<table id="table-{key}"><thead><tr><th scope="col">{row_label}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str | None]]:
    """``(column id, kpi, sub-key)`` in first-seen order; ``x_ci95`` keys are shown within ``x``."""
    seen: dict[str, set[str] | None] = {}
    for kpis in rows:
        for kpi, value in kpis.items():
            if kpi.endswith("_ci95"):
                continue
            if isinstance(value, Mapping):
                subs = seen.setdefault(kpi, set())
                if subs is not None:
                    subs.update(value)
            else:
                seen.setdefault(kpi, None)
    out: list[tuple[str, str, str | None]] = []
    for kpi, subs in seen.items():
        if subs is None:
            out.append((kpi, kpi, None))
        else:
            out.extend((f"{kpi}.{sub}", kpi, sub) for sub in sorted(subs))
    return out


def _cell(kpi: str, sub: str | None, kpis: Mapping[str, Any]) -> str:
    value, ci = kpis.get(kpi), kpis.get(f"{kpi}_ci95")
    if sub is not None:
        value = value.get(sub) if isinstance(value, Mapping) else None
        ci = ci.get(sub) if isinstance(ci, Mapping) else None
    shown = _value(kpi, value)
    if ci is None:
        return shown
    return f'{shown}<span class="ci"> ± {_value(kpi, ci)}</span>'


def _refusals(refusals: Sequence[Mapping[str, Any]]) -> str:
    """The scripted actions the engine refused (SPEC §7 ``errors``), the first few hundred."""
    if not refusals:
        return '<p class="empty">The engine refused no action.</p>'
    rows = []
    for refusal in refusals[:MAX_REFUSALS]:
        action = ", ".join(f"{k}: {v}" for k, v in dict(refusal.get("action") or {}).items())
        when = _clock(float(refusal.get("t") or 0.0))
        if refusal.get("replication") is not None:
            when += f" (replication {refusal['replication']})"
        rows.append(
            f"<tr><td>{_e(when)}</td><td><code>{{{_e(action)}}}</code></td>"
            f"<td>{_e(str(refusal.get('message', '')))}</td></tr>"
        )
    more = len(refusals) - MAX_REFUSALS
    note = f"<p>And {more:,} more (see <code>--json</code>).</p>" if more > 0 else ""
    return (
        '<div class="scroll" role="region" aria-label="Refused actions" tabindex="0">'
        '<table id="table-refusals" class="text"><thead><tr><th scope="col">Time</th>'
        '<th scope="col">Action</th><th scope="col">Why</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def _definitions() -> str:
    items = "".join(
        f"<dt>{_e(_LABELS[kpi])}</dt><dd>{_e(meaning)}</dd>" for kpi, meaning in _MEANINGS.items()
    )
    wait = (
        "<dt>Wait</dt><dd>From entering the first queue to the moment an agent accepted the item;"
        " offers declined or expired in between count as waiting.</dd>"
    )
    return f"<details><summary>Definitions (SPEC §8)</summary><dl>{wait}{items}</dl></details>"


def _scenario(text: str, name: str | None) -> str:
    label = f"<p>The scenario file{f' {_e(name)}' if name else ''} that produced this report:</p>"
    return f"{label}<pre><code>{_e(text)}</code></pre>"


# -- formatting --------------------------------------------------------------------------------------


def _value(kpi: str, value: object) -> str:
    """A KPI as the table shows it: ratios in percent, seconds to 0.1 s, counts with separators."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return _NONE if value is None else _e(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        return "∞" if value > 0 else _NONE
    if kpi in PERCENT_KPIS:
        return f"{value * 100:.1f}%"
    if kpi == "presence_s":
        return _clock(value)
    if kpi.endswith("_s"):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}".removesuffix(".0")  # a mean per replication, or a whole count


def _label(kpi: str, sub: str | None) -> str:
    if kpi == "presence_s" and sub is not None:
        return f"Time {sub.replace('_', ' ')}"
    label = _LABELS.get(kpi, kpi.replace("_", " ").capitalize())
    return label if sub is None else f"{label}: {sub}"


def _title(kpi: str) -> str:
    meaning = _MEANINGS.get(kpi)
    return f' title="{_e(meaning)}"' if meaning else ""


def _clock(seconds: float) -> str:
    """``HH:MM:SS`` (hours may pass 24), as the narrated account writes times."""
    whole = round(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return _NONE
    return durations.format_duration(float(seconds))


def _size(svg: str) -> tuple[int, int]:
    """The SVG's size in CSS pixels, from its ``viewBox`` (points)."""
    found = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if found is None:
        return 864, 326
    return round(float(found[1]) * _PT_TO_PX), round(float(found[2]) * _PT_TO_PX)


def _version() -> str:
    try:
        return metadata.version("unirouter")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "(source)"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_CSS = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .75rem; }
h2 { font-size: 1.3rem; margin: 2.5rem 0 1rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.75rem 0 .5rem; }
a { color: #0550ae; }
a:focus, .scroll:focus { outline: 2px solid #0550ae; outline-offset: 2px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .5rem;
  margin: 0 0 1rem; }
.facts div { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; }
.facts dt { color: var(--muted); font-size: .8rem; }
.facts dd { margin: 0; font-size: 1.1rem; font-weight: 600; font-variant-numeric: tabular-nums; }
nav ul { list-style: none; display: flex; gap: 1rem; padding: 0; margin: 0; }
figure { margin: 0 0 2rem; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .3rem; max-width: 60rem; }
.empty { color: var(--muted); font-style: italic; }
.scroll { overflow-x: auto; max-height: 36rem; overflow-y: auto; border: 1px solid var(--line);
  border-radius: 6px; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; width: 100%; }
th, td { padding: .3rem .55rem; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--line); }
thead th { position: sticky; top: 0; background: var(--band); vertical-align: bottom; }
th[scope="row"], thead th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: var(--band); }
table.text td { text-align: left; white-space: normal; }
.ci { color: var(--muted); font-size: .8em; }
details { margin-top: 1.5rem; }
details dt { font-weight: 600; }
details dd { margin: 0 0 .5rem 1rem; }
pre { background: var(--band); border: 1px solid var(--line); border-radius: 6px; padding: 1rem;
  overflow-x: auto; font-size: .85rem; line-height: 1.4; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
""".strip()


def figure(chart: _report_plots.Chart) -> str:
    """A chart as the report shows it (for pages that set reports side by side)."""
    return _figure(chart)


def page(title: str, body: Iterable[str]) -> str:
    """A self-contained HTML page in the report's style around ``body``."""
    return "\n".join(
        ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
         f"<title>{_e(title)}</title>", f"<style>{_CSS}{_SIDE_BY_SIDE}</style>", "</head>",
         "<body>", *body, f"<footer><p>Written by unirouter {_version()}.</p></footer>",
         "</body>", "</html>", ""]
    )  # fmt: skip


_SIDE_BY_SIDE = ".side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.side img{max-width:100%;height:auto}"
