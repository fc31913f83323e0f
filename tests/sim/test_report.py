"""SPEC §7 `unirouter simulate --report FILE.html`: one self-contained HTML page with the charts
(waiting over time, wait distribution, service level per interval, occupancy per agent and group,
abandonment), the KPI tables of §8 and the scenario text.

Pages are read back with :mod:`html.parser` and their charts with :mod:`xml.etree`; the data comes
from real runs of the engine (a KPI accumulator fed by an observer, or the run's own
``report_data()``) or, where a test needs exact numbers, is written out by hand.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirouter import cli
from unirouter.analytics import kpis
from unirouter.engine import Engine, Event
from unirouter.sim import agenda, report, results, runner, scenario

CHARTS = (
    "waiting",
    "wait_histogram",
    "service_level",
    "occupancy_agents",
    "occupancy_groups",
    "abandonment",
)
SVG = "{http://www.w3.org/2000/svg}"
#: Every tag a report may hold.
ALLOWED_TAGS = frozenset({
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "dl", "div", "dt",
    "dd", "nav", "ul", "li", "a", "section", "figure", "img", "figcaption", "strong", "p", "table",
    "thead", "tbody", "tr", "th", "td", "span", "details", "summary", "pre", "code", "footer",
})  # fmt: skip
AGENTS = ["a1", "a2", "a3", "a4"]
CONFIG: dict[str, Any] = {
    "workstreams": {
        "chat": {
            "kind": "messaging",
            "fallback_queue": "q",
            "route_to_queue": [{"when": 'item.language == "fr"', "queue": "fr"}],
        }
    },
    "queues": {"q": {"kind": "messaging", "members": AGENTS}, "fr": {"kind": "messaging", "members": AGENTS}},
    "agents": {name: {"attributes": {"group": "day" if n < 2 else "night"}} for n, name in enumerate(AGENTS)},
}  # fmt: skip
ARRIVALS = [
    {
        "workstream": "chat",
        "rate": "40/h",
        "attributes": {"language": {"fr": 0.3, "en": 0.7}},
        "handle_time": {"dist": "exponential", "mean_s": 300},
        "patience": {"dist": "exponential", "mean_s": 120},
    }
]


# -- the data: a KPI accumulator per replication, fed by an observer of a real run -----------------


class KpiObserver:
    """Feeds every event of a run to one :class:`KpiAccumulator` per replication (a new engine
    is a new replication) and builds the report's data from them."""

    def __init__(self, sc: scenario.Scenario) -> None:
        self.scenario = sc
        self.engine: Engine | None = None
        self.accumulator: kpis.KpiAccumulator | None = None
        self.last_t = 0.0
        self.results: list[kpis.KpiResult] = []

    def on_events(self, events: Sequence[Event], engine: Engine, cause: agenda.Task | None) -> None:
        if engine is not self.engine:
            self._close()
            self.engine = engine
            self.accumulator = kpis.KpiAccumulator(
                self.scenario.config, warmup_s=self.scenario.warmup
            )
        assert self.accumulator is not None
        self.accumulator.feed_all(events)
        self.last_t = events[-1].t

    def on_refusal(self, refusal: results.Refusal) -> None:
        """Refusals are not KPIs."""

    def _close(self) -> None:
        if self.accumulator is not None:
            self.results.append(self.accumulator.finish(max(self.last_t, self.scenario.duration)))
            self.accumulator = None

    def data(self, result: results.RunResult) -> dict[str, Any]:
        self._close()
        out = self.results[0].to_dict()
        if len(self.results) > 1:
            out.update(kpis.combine(self.results))
        out.update(seed=result.seed, duration_s=result.duration_s, replications=len(self.results))
        return out


def generated(**top: Any) -> scenario.Scenario:
    data = {"config": CONFIG, "duration": "3h", "seed": 4, "arrivals": ARRIVALS, **top}
    return scenario.parse(data)


def run_data(sc: scenario.Scenario) -> dict[str, Any]:
    observer = KpiObserver(sc)
    result = runner.run(sc, observers=[observer])
    return observer.data(result)


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    """The report data of a 3-hour generated run, two queues, four agents in two groups."""
    return run_data(generated())


@pytest.fixture(scope="module")
def page(data: dict[str, Any]) -> Page:
    """The report of :func:`data`, read back."""
    return Page(report.render(data, "seed: 4\n"))


# -- reading a page back ----------------------------------------------------------------------------


class Page(HTMLParser):
    """What a test needs of a report: tags, figures, tables (cells by ``data-kpi``) and text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.figures: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.pre = ""
        self._figure: dict[str, Any] | None = None
        self._table: dict[str, dict[str, str]] | None = None
        self._row: str | None = None
        self._cell: tuple[str, list[str]] | None = None
        self._in_pre = False
        self._in_caption = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        self.tags.append((tag, found))
        if tag == "figure":
            self._figure = self.figures[found["id"].removeprefix("chart-")] = {"caption": ""}
        elif tag == "img" and self._figure is not None:
            self._figure["img"] = found
        elif tag == "p" and self._figure is not None and "class" in found:
            self._figure["empty"] = True
        elif tag == "figcaption":
            self._in_caption = True
        elif tag == "table":
            self._table = self.tables[found["id"].removeprefix("table-")] = {}
        elif (tag == "th" and found.get("scope") == "row") or tag == "td":
            self._cell = (found.get("data-kpi", "row"), [])
        elif tag == "pre":
            self._in_pre = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        elif tag == "figcaption":
            self._in_caption = False
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            key, parts = self._cell
            text = "".join(parts)
            if key == "row":
                self._row = text
                self._table[text] = {}
            else:
                assert self._row is not None
                self._table[self._row][key] = text
            self._cell = None
        elif tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)
        if self._in_pre:
            self.pre += data
        if self._in_caption and self._figure is not None:
            self._figure["caption"] += data


def chart_svg(page: Page, key: str) -> ElementTree.Element:
    """The chart's embedded SVG document, parsed."""
    src = page.figures[key]["img"]["src"]
    prefix = "data:image/svg+xml;base64,"
    assert src.startswith(prefix)
    return ElementTree.fromstring(base64.b64decode(src[len(prefix) :]))


def svg_texts(root: ElementTree.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG}text")]


# -- charts --------------------------------------------------------------------------------------


def test_report_embeds_every_chart_as_svg_with_alt_text(page: Page) -> None:
    """SPEC §7 --report: the five plots (occupancy per agent and per group) are embedded images."""
    assert list(page.figures) == list(CHARTS)
    for key in CHARTS:
        figure = page.figures[key]
        root = chart_svg(page, key)
        assert root.tag == f"{SVG}svg"
        assert len(list(root.iter(f"{SVG}path"))) > 5, key  # something was drawn
        assert figure["img"]["alt"].strip(), key
        assert figure["caption"].strip(), key


def test_waiting_and_service_level_charts_name_each_queue(page: Page) -> None:
    """The per-interval charts have a line per queue and one for all queues together."""
    for key in ("waiting", "service_level"):
        texts = svg_texts(chart_svg(page, key))
        assert {"q", "fr", "all queues"} <= set(texts), key
    assert "hours from the start" in svg_texts(chart_svg(page, "waiting"))


def test_alt_texts_state_the_numbers_of_the_data(data: dict[str, Any], page: Page) -> None:
    """Alt texts give readers who cannot see the charts the figures they show."""
    histogram = data["wait_histogram"]
    waits = sum(histogram["counts"]) + histogram["overflow"]
    alt = page.figures["wait_histogram"]["img"]["alt"]
    assert f"the waits of {waits:,} items: {histogram['counts'][0]:,} waited less than 5 s" in alt
    abandoned = sum(
        slot["abandoned"] for series in data["series"].values() for slot in series["intervals"]
    )
    assert f"{abandoned:,} in all" in page.figures["abandonment"]["img"]["alt"]
    lowest = min(data["agents"].items(), key=lambda kv: (kv[1]["occupancy"], kv[0]))
    alt = page.figures["occupancy_agents"]["img"]["alt"]
    assert (
        f"occupancy of {len(AGENTS)} agents: lowest {lowest[1]['occupancy']:.0%} ({lowest[0]})"
        in alt
    )


def test_a_busy_run_has_a_non_trivial_wait_distribution(data: dict[str, Any]) -> None:
    """The scenario is loaded enough for the charts to show waits, abandons and busy agents."""
    assert sum(data["wait_histogram"]["counts"][1:]) > 0
    assert data["totals"]["abandoned"] > 0
    assert all(0 < agent["occupancy"] < 1 for agent in data["agents"].values())


def test_many_agents_are_drawn_as_a_histogram_of_occupancy() -> None:
    """Hundreds of agents: occupancy becomes a distribution across agents, not 300 bars."""
    agents = {
        f"agent{n:03d}": {"occupancy": (n % 20) / 20 + 0.01, "handled": n} for n in range(300)
    }
    page = Page(report.render({"agents": agents, "duration_s": 3600.0}, ""))
    alt = page.figures["occupancy_agents"]["img"]["alt"]
    assert alt.startswith("Histogram of the occupancy of 300 agents: lowest 1% (agent000)")
    assert "agent150" not in svg_texts(chart_svg(page, "occupancy_agents"))
    assert len(page.tables["agents"]) == 300  # the table still lists every agent


def test_only_the_busiest_queues_get_a_line_of_their_own() -> None:
    """More than eight queues: the eight with the most arrivals are drawn, beside the total."""
    series = {
        f"queue{n:02d}": {
            "interval_s": 900.0,
            "intervals": [
                {"start_s": 0.0, "arrived": n + 1, "answered": n + 1, "answered_in_sl": n,
                 "abandoned": 0, "service_level": n / (n + 1), "waiting_max": 1, "waiting_mean": 0.5},
            ],
        }
        for n in range(12)
    }  # fmt: skip
    page = Page(report.render({"series": series}, ""))
    texts = set(svg_texts(chart_svg(page, "waiting")))
    assert {f"queue{n:02d}" for n in range(4, 12)} | {"all queues"} <= texts
    assert not {f"queue{n:02d}" for n in range(4)} & texts
    assert "and 4 more" in page.figures["waiting"]["img"]["alt"]


def test_a_run_without_items_says_so_instead_of_empty_charts() -> None:
    """A run where nothing arrived still gives a page; each chart says why it is empty."""
    sc = scenario.parse({"config": CONFIG, "duration": "10m", "events": []})
    page = Page(report.render(run_data(sc), ""))
    assert list(page.figures) == list(CHARTS)
    assert page.figures["waiting"].get("empty")
    assert page.figures["wait_histogram"].get("empty")
    assert page.figures["occupancy_agents"]["img"]  # agents were logged in, idle


# -- tables --------------------------------------------------------------------------------------

HAND_MADE: dict[str, Any] = {
    "seed": 7,
    "duration_s": 28800.0,
    "replications": 3,
    "totals": {"arrived": 1234.0, "answered": 1100.5, "asa_s": 12.345, "service_level": 0.8523,
               "service_level_ci95": 0.0312, "abandon_rate": None, "max_wait_s": 301.0},
    "queues": {"billing <chat>": {"arrived": 10.0, "service_level": 1.0, "service_level_ci95": None}},
    "workstreams": {"web_chat": {"arrived": 1234.0, "aht_s": 180.0, "aht_s_ci95": 4.56}},
    "agents": {"alice": {"occupancy": 0.75, "utilisation": 0.5, "handled": 40.0,
                         "presence_s": {"available": 3600.0, "busy": 5400.0},
                         "presence_s_ci95": {"available": 60.0, "busy": None}}},
    "groups": {"day": {"occupancy": 0.6, "occupancy_ci95": 0.05, "handled": 80.0}},
    "errors": [{"t": 65.0, "action": {"close": "w1"}, "message": "item w1 is <queued>"}],
}  # fmt: skip


def test_tables_show_each_kpi_with_its_confidence_half_width() -> None:
    """§8 KPIs per scope: ratios in percent, seconds to 0.1, counts with separators, x ± x_ci95."""
    page = Page(report.render(HAND_MADE, ""))
    totals = page.tables["totals"]["All items"]
    assert totals["arrived"] == "1,234"
    assert totals["answered"] == "1,100.5"  # a mean per replication
    assert totals["asa_s"] == "12.3"
    assert totals["service_level"] == "85.2% ± 3.1%"
    assert totals["abandon_rate"] == "–"  # undefined: nothing to divide by
    assert totals["max_wait_s"] == "301.0"
    assert page.tables["queues"]["billing <chat>"] == {
        "arrived": "10",
        "service_level": "100.0%",
    }
    assert page.tables["workstreams"]["web_chat"]["aht_s"] == "180.0 ± 4.6"
    alice = page.tables["agents"]["alice"]
    assert alice["occupancy"] == "75.0%"
    assert alice["utilisation"] == "50.0%"
    assert alice["presence_s.available"] == "01:00:00 ± 00:01:00"
    assert alice["presence_s.busy"] == "01:30:00"
    assert page.tables["groups"]["day"] == {"occupancy": "60.0% ± 5.0%", "handled": "80"}


def test_tables_have_column_and_row_headers() -> None:
    """Accessible tables: every column and every row has a header cell with a scope."""
    text = report.render(HAND_MADE, "")
    page = Page(text)
    headers = [attrs for tag, attrs in page.tags if tag == "th"]
    assert {attrs.get("scope") for attrs in headers} == {"col", "row"}
    assert 'data-kpi="service_level" title="Answered within' in text


def test_refused_actions_are_listed_and_escaped() -> None:
    """SPEC §7 errors: each refused action with its time and the engine's sentence."""
    text = report.render(HAND_MADE, "")
    assert (
        "<td>00:01:05</td><td><code>{close: w1}</code></td><td>item w1 is &lt;queued&gt;</td>"
        in text
    )


def test_tables_of_a_real_run_show_its_numbers(data: dict[str, Any], page: Page) -> None:
    """The totals, queue and agent rows carry the run's own figures."""
    totals = page.tables["totals"]["All items"]
    assert totals["arrived"] == f"{data['totals']['arrived']:,}"
    assert totals["service_level"] == f"{data['totals']['service_level'] * 100:.1f}%"
    assert set(page.tables["queues"]) == set(data["queues"]) == {"q", "fr"}
    for name, agent in data["agents"].items():
        assert page.tables["agents"][name]["handled"] == f"{agent['handled']:,}"
    assert set(page.tables["groups"]) == {"day", "night"}


# -- the page as a whole -------------------------------------------------------------------------


def test_scenario_text_is_shown_escaped() -> None:
    """The scenario that produced the report is on the page, as text, never as markup."""
    text = "seed: 7  # <script>alert('x')</script> & \"quotes\"\nduration: 8h\n"
    page = Page(report.render(HAND_MADE, text, name="run<1>.yaml"))
    assert page.pre == text
    assert "script" not in {tag for tag, _ in page.tags}
    assert "<title>Simulation report · run&lt;1&gt;.yaml</title>" in report.render(
        HAND_MADE, text, name="run<1>.yaml"
    )


names = st.text(min_size=1, max_size=12).filter(
    lambda text: text.strip() == text and text.isprintable()
)
ratios = st.none() | st.floats(min_value=0, max_value=1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    queues=st.dictionaries(names, ratios, max_size=4),
    agents=st.dictionaries(names, ratios, max_size=4),
    text=st.text(max_size=200),
)
def test_any_names_and_text_stay_text(
    queues: dict[str, float | None], agents: dict[str, float | None], text: str
) -> None:
    """Property: whatever the names and the scenario text, each shows once as text, unchanged,
    and the page gains no tag from them."""
    data = {
        "queues": {name: {"service_level": value} for name, value in queues.items()},
        "agents": {name: {"occupancy": value} for name, value in agents.items()},
    }
    page = Page(report.render(data, text, name="<x>"))
    assert page.pre == text
    assert list(page.tables.get("queues", {})) == list(queues)
    assert list(page.tables.get("agents", {})) == list(agents)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS
    for name, value in queues.items():
        shown = page.tables["queues"][name]["service_level"]
        assert shown == ("–" if value is None else f"{value * 100:.1f}%")


def test_the_page_loads_nothing_from_elsewhere(data: dict[str, Any]) -> None:
    """Self-contained: no scripts, stylesheets, fonts or frames; images are data; links stay in."""
    text = report.render(data, "config: centre.yaml\n")
    page = Page(text)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed", "frame", "base"}
    for tag, attrs in page.tags:
        assert attrs.get("src", "data:").startswith("data:"), tag
        assert attrs.get("href", "#").startswith("#"), tag
    assert "http" not in text and "url(" not in text and "@import" not in text
    for key in CHARTS:
        svg = ElementTree.tostring(chart_svg(page, key), encoding="unicode")
        assert "<image" not in svg and "@font-face" not in svg


def test_the_same_data_gives_the_same_bytes(data: dict[str, Any], tmp_path: Path) -> None:
    """Deterministic: no dates or random ids in the page or its charts."""
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    report.write_report(first, data, "x: 1\n", name="run.yaml")
    report.write_report(second, json.loads(json.dumps(data)), "x: 1\n", name="run.yaml")
    assert first.read_bytes() == second.read_bytes()


def test_replications_pool_the_charts_and_show_half_widths() -> None:
    """SPEC §7 replications: KPI cells show ± x_ci95; the charts draw the pooled series."""
    data = run_data(generated(replications=3, duration="1h"))
    page = Page(report.render(data, ""))
    assert " ± " in page.tables["totals"]["All items"]["service_level"]
    assert "3 replications." in report.render(data, "")
    assert list(page.figures) == list(CHARTS)


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    (tmp_path / "centre.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    body = {
        "config": "centre.yaml",
        "duration": "2h",
        "seed": 9,
        "replications": 2,
        "arrivals": ARRIVALS,
    }
    path = tmp_path / "run.yaml"
    path.write_text("# a small generated day & <night>\n" + yaml.safe_dump(body), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_simulate_report_writes_the_page_and_one_line(scenario_file: Path, tmp_path: Path) -> None:
    """`simulate --report FILE.html`: the page is written; stdout gets one line, not the account."""
    out_file = tmp_path / "report.html"
    code, out, err = invoke("simulate", str(scenario_file), "--report", str(out_file))
    assert (code, err) == (0, "")
    assert out.startswith(f"Wrote {out_file}: 2h × 2 replications · ")
    assert out.count("\n") == 1
    page = Page(out_file.read_text(encoding="utf-8"))
    assert list(page.figures) == list(CHARTS)
    assert page.pre == scenario_file.read_text(encoding="utf-8")
    code, out, _ = invoke("simulate", str(scenario_file), "--json")
    pooled = json.loads(out)
    totals = page.tables["totals"]["All items"]
    assert totals["service_level"].startswith(f"{pooled['totals']['service_level'] * 100:.1f}% ± ")
    assert set(page.tables["queues"]) == set(pooled["queues"])


def test_simulate_report_with_json_prints_only_the_json(
    scenario_file: Path, tmp_path: Path
) -> None:
    """--json --report: the JSON object on stdout as without --report, and the page beside it."""
    out_file = tmp_path / "report.html"
    code, out, err = invoke("simulate", str(scenario_file), "--json", "--report", str(out_file))
    assert (code, err) == (0, "")
    assert json.loads(out)["seed"] == 9
    assert "Simulation report" in out_file.read_text(encoding="utf-8")


def test_an_unwritable_report_path_is_one_sentence(scenario_file: Path, tmp_path: Path) -> None:
    """SPEC §6.2: a user error is one sentence and a non-zero exit, before anything runs."""
    target = tmp_path / "missing" / "report.html"
    code, out, err = invoke("simulate", str(scenario_file), "--report", str(target))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and str(target) in err and "Traceback" not in err
    assert not target.parent.exists()


def test_the_report_is_the_same_from_any_process(scenario_file: Path, tmp_path: Path) -> None:
    """Two processes with different hash seeds write byte-identical reports of the same run."""
    pages = []
    for hash_seed in ("1", "2"):
        target = tmp_path / f"report-{hash_seed}.html"
        done = subprocess.run(
            [sys.executable, "-c", "from unirouter.cli import main; main()", "simulate",
             str(scenario_file), "--report", str(target)],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (0, "")
        pages.append(target.read_bytes())
    assert pages[0] == pages[1]
