"""The charts of the HTML report (SPEC §7 ``--report``), drawn by matplotlib as SVG.

Every chart is a :class:`Chart`: an SVG document (or None when the run gave it nothing to show) with
a title, a caption and an alt text that states what the chart shows in numbers, for readers who
cannot see it. Charts are drawn on bare :class:`~matplotlib.figure.Figure` objects (no pyplot, no
display, no global state) under fixed rc settings, so the same data gives the same bytes: a fixed
``svg.hashsalt`` for the element ids, no date in the metadata, text kept as text.

Long runs stay cheap: the series hold one point per 15-minute interval (not per item), at most
:data:`MAX_LINES` queues get a line of their own (the busiest), and past :data:`MAX_BARS` agents the
per-agent bars become a histogram of occupancy across agents. matplotlib is imported only when a
chart is drawn: it takes about half a second, and every ``unirouter`` command imports this module
through the command line.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.typing import RcKeyType

__all__ = ["MAX_BARS", "MAX_LINES", "Chart", "charts"]

#: Queues drawn with a line of their own in the per-interval charts (the busiest by arrivals).
MAX_LINES = 8
#: Agents (or groups) drawn as one bar each; more become a histogram across agents.
MAX_BARS = 40

_WIDTH_IN = 9.0
_HEIGHT_IN = 3.4
_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "unirouter-report",
    "svg.fonttype": "none",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 72.0,
}
_METADATA: dict[str, Any] = {"Date": None, "Creator": None, "Format": None, "Type": None}
#: Legends sit above the plot, where they hide no data.
_LEGEND: dict[str, Any] = {
    "loc": "lower left",
    "bbox_to_anchor": (0.0, 1.0),
    "ncols": 5,
    "frameon": False,
    "fontsize": "small",
}
_TOTAL_STYLE: dict[str, Any] = {"color": "black", "linewidth": 2.0, "baseline": None}


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """One chart of the report; ``svg`` is None when there was nothing to draw (``alt`` says why)."""

    key: str
    title: str
    caption: str
    alt: str
    svg: str | None


def charts(data: Mapping[str, Any]) -> list[Chart]:
    """Every chart of the report, in reading order."""
    series = _Series(data.get("series") or {})
    agents = data.get("agents") or {}
    groups = data.get("groups") or {}
    return [
        _waiting(series),
        _wait_histogram(data.get("wait_histogram") or {}),
        _service_level(series),
        _occupancy("occupancy_agents", "agent", agents),
        _occupancy("occupancy_groups", "group", groups),
        _abandonment(series),
    ]


# -- the series of every queue on one grid of intervals ---------------------------------------------


class _Series:
    """The per-queue interval series, laid on one grid of interval indexes (missing ones empty)."""

    def __init__(self, series: Mapping[str, Mapping[str, Any]]) -> None:
        self.interval_s = 900.0
        self.rows: dict[str, dict[int, Mapping[str, Any]]] = {}
        for name, one in series.items():
            self.interval_s = float(one.get("interval_s", self.interval_s))
            self.rows[name] = {
                round(float(slot["start_s"]) / self.interval_s): slot
                for slot in one.get("intervals", ())
            }
        indexes = [i for rows in self.rows.values() for i in rows]
        self.first = min(indexes, default=0)
        self.count = max(indexes, default=-1) - self.first + 1
        arrived = {
            n: sum(int(s.get("arrived") or 0) for s in r.values()) for n, r in self.rows.items()
        }
        self.ranked = sorted(self.rows, key=lambda name: (-arrived[name], name))

    @property
    def empty(self) -> bool:
        return self.count <= 0

    def edges_h(self) -> list[float]:
        """Interval edges in hours from the start of the run."""
        return [(self.first + i) * self.interval_s / 3600 for i in range(self.count + 1)]

    def values(self, queue: str, field: str, missing: float = 0.0) -> list[float]:
        rows = self.rows[queue]
        out = []
        for i in range(self.first, self.first + self.count):
            value = rows[i].get(field) if i in rows else None
            out.append(missing if value is None else float(value))
        return out

    def total(self, field: str) -> list[float]:
        """``field`` summed over every queue, per interval."""
        columns = [self.values(name, field) for name in self.rows]
        return [sum(column) for column in zip(*columns, strict=True)] if columns else []

    def hour_of(self, position: int) -> str:
        return _hhmm((self.first + position) * self.interval_s)


# -- the charts -------------------------------------------------------------------------------------


def _waiting(series: _Series) -> Chart:
    title = "Waiting items over time"
    caption = (
        "Mean number of items waiting (queued or offered) in each 15-minute interval, per queue"
        f" (the {MAX_LINES} busiest at most) and in all queues together."
    )
    if series.empty:
        return _nothing("waiting", title, caption, "No item waited in any queue.")
    total = series.total("waiting_mean")
    peak = max(range(len(total)), key=lambda i: (total[i], -i))

    def draw(ax: Axes) -> None:
        edges = series.edges_h()
        for name in series.ranked[:MAX_LINES]:
            ax.stairs(series.values(name, "waiting_mean"), edges, label=name, baseline=None)
        if len(series.rows) > 1:
            ax.stairs(total, edges, label="all queues", **_TOTAL_STYLE)
        _hours_axis(ax, "items waiting (mean)")
        ax.set_ylim(bottom=0)

    alt = (
        f"Line chart of the mean number of waiting items per 15-minute interval in"
        f" {_names(series.ranked)}. In all queues together the most was {total[peak]:.1f} on"
        f" average, in the interval starting at {series.hour_of(peak)}."
    )
    return Chart(key="waiting", title=title, caption=caption, alt=alt, svg=_svg(draw))


def _wait_histogram(histogram: Mapping[str, Any]) -> Chart:
    title = "Wait-time distribution"
    bin_s = float(histogram.get("bin_s") or 5.0)
    counts = [float(c) for c in histogram.get("counts") or ()]
    over = float(histogram.get("overflow") or 0)
    limit_s = bin_s * len(counts)
    caption = (
        f"How long items waited before an agent answered or they left the queue, in {bin_s:g}-second"
        f" bins; waits of {limit_s:g} s or more are counted together."
    )
    waits = sum(counts) + over
    if not waits:
        return _nothing("wait_histogram", title, caption, "No item left a queue.")
    shown = max((i + 1 for i, c in enumerate(counts) if c), default=0)
    shown = min(len(counts), max(shown, 12))
    edges = [i * bin_s for i in range(shown + 1)]

    def draw(ax: Axes) -> None:
        ax.stairs(counts[:shown], edges, fill=True, alpha=0.8, label="items")
        if over:
            ax.text(
                0.99,
                0.95,
                f"{_num(over)} waited {limit_s:g} s or more",
                transform=ax.transAxes,
                ha="right",
                va="top",
            )
        ax.set_xlabel("wait (s)")
        ax.set_ylabel("items")
        ax.set_xlim(0, edges[-1])

    first = counts[0] if counts else 0.0
    alt = (
        f"Histogram of the waits of {_num(waits)} items: {_num(first)} waited less than {bin_s:g} s,"
        f" {_num(over)} waited {limit_s:g} s or more."
    )
    return Chart(key="wait_histogram", title=title, caption=caption, alt=alt, svg=_svg(draw))


def _service_level(series: _Series) -> Chart:
    title = "Service level per 15-minute interval"
    caption = (
        "Answered within the queue's service_level_s ÷ (answered + abandoned) in each interval,"
        f" per queue (the {MAX_LINES} busiest at most) and over all queues; gaps are intervals"
        " with neither an answer nor an abandon."
    )
    if series.empty:
        return _nothing("service_level", title, caption, "No item was answered or abandoned.")
    within, answered, abandoned = (
        series.total(f) for f in ("answered_in_sl", "answered", "abandoned")
    )
    overall = [
        w / (a + b) if a + b else math.nan
        for w, a, b in zip(within, answered, abandoned, strict=True)
    ]
    known = [(v, i) for i, v in enumerate(overall) if not math.isnan(v)]
    if not known:
        return _nothing("service_level", title, caption, "No item was answered or abandoned.")

    def draw(ax: Axes) -> None:
        edges = series.edges_h()
        for name in series.ranked[:MAX_LINES]:
            ax.stairs(
                series.values(name, "service_level", math.nan), edges, label=name, baseline=None
            )
        if len(series.rows) > 1:
            ax.stairs(overall, edges, label="all queues", **_TOTAL_STYLE)
        _hours_axis(ax, "service level")
        ax.set_ylim(0, 1.05)
        _percent(ax.yaxis)

    worst, at = min(known)
    alt = (
        f"Line chart of the service level per 15-minute interval in {_names(series.ranked)}."
        f" Over all queues it was lowest, {worst:.0%}, in the interval starting at"
        f" {series.hour_of(at)}, and {sum(within) / (sum(answered) + sum(abandoned)):.0%} over"
        " the whole run."
    )
    return Chart(key="service_level", title=title, caption=caption, alt=alt, svg=_svg(draw))


def _occupancy(key: str, noun: str, scopes: Mapping[str, Mapping[str, Any]]) -> Chart:
    title = f"Occupancy per {noun}"
    known = {n: float(k["occupancy"]) for n, k in scopes.items() if k.get("occupancy") is not None}
    caption = (
        f"Share of each {noun}'s logged-in time (any presence but offline) with at least one item"
        " assigned or in wrap-up; bars carry their 95% confidence interval when there are"
        " replications."
    )
    if not known:
        why = f"No {noun} was logged in." if noun == "agent" else "No agent carries a group."
        return _nothing(key, title, caption, why)
    low, high = min(known.items(), key=lambda kv: (kv[1], kv[0])), max(known.values())
    summary = f"lowest {low[1]:.0%} ({low[0]}), highest {high:.0%}"
    if len(known) > MAX_BARS:
        caption = (
            f"How many of the {len(known)} {noun}s had each occupancy (share of logged-in time with"
            " at least one item assigned or in wrap-up), in 5% bins."
        )
        alt = f"Histogram of the occupancy of {len(known)} {noun}s: {summary}."
        return Chart(
            key=key,
            title=title,
            caption=caption,
            alt=alt,
            svg=_svg(lambda ax: _occupancy_histogram(ax, noun, known.values())),
        )
    names = list(known)
    errors = [scopes[n].get("occupancy_ci95") for n in names]

    def draw(ax: Axes) -> None:
        spread = [0.0 if e is None else float(e) for e in errors]
        ax.barh(
            names,
            [known[n] for n in names],
            xerr=spread if any(spread) else None,
            color="tab:blue",
            alpha=0.8,
        )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        _percent(ax.xaxis)
        ax.set_xlabel("occupancy")
        ax.grid(axis="y", visible=False)

    height = max(_HEIGHT_IN / 2, 0.6 + 0.22 * len(names))
    alt = f"Bar chart of the occupancy of {len(names)} {noun}s: {summary}."
    return Chart(key=key, title=title, caption=caption, alt=alt, svg=_svg(draw, height=height))


def _occupancy_histogram(ax: Axes, noun: str, values: Iterable[float]) -> None:
    ax.hist(list(values), bins=[i / 20 for i in range(21)], color="tab:blue", alpha=0.8)
    ax.set_xlim(0, 1)
    _percent(ax.xaxis)
    ax.set_xlabel("occupancy")
    ax.set_ylabel(f"{noun}s")


def _abandonment(series: _Series) -> Chart:
    title = "Abandonment per 15-minute interval"
    caption = (
        "Items abandoned in each interval, all queues together (bars), and the abandon rate"
        " abandoned ÷ (answered + abandoned) of the interval (line; short abandons excluded)."
    )
    if series.empty:
        return _nothing("abandonment", title, caption, "No item reached a queue.")
    abandoned, answered = series.total("abandoned"), series.total("answered")
    rate = [b / (a + b) if a + b else math.nan for a, b in zip(answered, abandoned, strict=True)]

    def draw(ax: Axes) -> None:
        edges = series.edges_h()
        ax.stairs(abandoned, edges, fill=True, alpha=0.6, color="tab:red", label="abandoned")
        _hours_axis(ax, "items abandoned", legend=False)
        ax.set_ylim(bottom=0)
        right = ax.twinx()
        right.stairs(rate, edges, color="black", linewidth=1.5, label="abandon rate", baseline=None)
        right.set_ylim(0, 1.05)
        _percent(right.yaxis)
        right.set_ylabel("abandon rate")
        right.grid(visible=False)
        lines = [*ax.get_legend_handles_labels()[0], *right.get_legend_handles_labels()[0]]
        ax.legend(handles=lines, **_LEGEND)

    total = sum(abandoned)
    peak = max(range(len(abandoned)), key=lambda i: (abandoned[i], -i))
    alt = f"Bar chart of abandons per 15-minute interval: {_num(total)} in all."
    if total:
        alt += f" The most, {_num(abandoned[peak])}, in the interval starting at {series.hour_of(peak)}."
    return Chart(key="abandonment", title=title, caption=caption, alt=alt, svg=_svg(draw))


# -- drawing ----------------------------------------------------------------------------------------


def _svg(draw: Callable[[Axes], None], *, height: float = _HEIGHT_IN) -> str:
    """Draw on a fresh figure and return it as an SVG document (no XML prologue, no DTD)."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # Text stays text in the SVG, so the reader's browser draws names in any script; the
        # font matplotlib measures with may lack a glyph, which only shifts the layout a little.
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        figure = Figure(figsize=(_WIDTH_IN, height), layout="constrained")
        draw(figure.add_subplot())
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata=_METADATA)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _percent(axis: Axis) -> None:
    """Label a 0–1 axis in percent."""
    from matplotlib import ticker

    axis.set_major_formatter(ticker.PercentFormatter(1.0))


def _hours_axis(ax: Axes, ylabel: str, *, legend: bool = True) -> None:
    ax.set_xlabel("hours from the start")
    ax.set_ylabel(ylabel)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(**_LEGEND)


def _nothing(key: str, title: str, caption: str, why: str) -> Chart:
    return Chart(key=key, title=title, caption=caption, alt=why, svg=None)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LINES])
    more = len(names) - MAX_LINES
    queues = "queue" if len(names) == 1 else "queues"
    return f"{queues} {shown}" + (f" and {more} more" if more > 0 else "")


def _num(value: float) -> str:
    """A count as text: whole numbers with separators, means per replication to one decimal."""
    return f"{value:,.1f}".removesuffix(".0")


def _hhmm(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
