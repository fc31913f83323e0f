"""Historical reports over the API (SPEC §6.3, §8; issue 16 item 2, issue 13 item 4) against a real
``unirouter serve``: ISO 8601 and Unix windows, intervals, CSV, agent groups, restarts."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from server_support import CONFIG, Server, available, start_server, submit

from unirouter import config as configuration
from unirouter.server import EngineHost
from unirouter.server.routes import admin
from unirouter.storage import SqliteStore, StoredRecord

GROUPED = CONFIG.replace(
    "alice: {skills: {french: 5}, profiles: [chat]}",
    "alice: {skills: {french: 5}, profiles: [chat], attributes: {group: tier1}}",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with two answered chats (alice, group tier1) and one waiting."""
    assert GROUPED != CONFIG
    folder = tmp_path_factory.mktemp("reports")
    (folder / "config.yaml").write_text(GROUPED)
    server = start_server(folder / "u.db", folder / "config.yaml")
    intake, alice = server.client("intake"), server.client("alice")
    available(server, "alice")
    for name in ("r-1", "r-2"):
        item = submit(intake, name)
        assert alice.post(f"/v1/offers/{item['offer']['id']}/accept").status_code == 200
    submit(intake, "r-3")
    yield server
    server.stop()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_reports_accept_iso_8601_and_unix_seconds_alike(served: Server) -> None:
    """Issue 16 item 2: from/to as ISO 8601 (as docs/api.md says) give what Unix seconds give."""
    client = served.client("supervisor")
    start, end = time.time() - 3600, time.time() + 60
    unix = client.get("/v1/reports/queues", params={"from": start, "to": end}).json()
    iso = client.get("/v1/reports/queues", params={"from": _iso(start), "to": _iso(end)}).json()
    zulu = _iso(start).replace("+00:00", "Z")
    assert client.get("/v1/reports/queues", params={"from": zulu}).status_code == 200
    assert unix["totals"]["arrived"] == iso["totals"]["arrived"] == 3
    assert unix["queues"]["chat_q"]["answered"] == 2
    assert unix["from"] == iso["from"] and unix["from"] % 900 == 0


def test_reports_cut_the_window_into_intervals_that_add_up(served: Server) -> None:
    """by=15m: aligned 15-minute intervals whose counts add up to the whole window's; the
    intervals before the log started are left out."""
    client = served.client("supervisor")
    start = time.time() - 2 * 3600
    body = client.get("/v1/reports/queues", params={"from": start, "by": "15m"}).json()
    spans = [(i["from"], i["to"]) for i in body["intervals"]]
    assert all(b - a == 900 and a % 900 == 0 for a, b in spans)
    assert spans[0][0] > start + 3600 and spans[-1][1] >= time.time() - 1
    assert sum(i["totals"]["arrived"] for i in body["intervals"]) == body["totals"]["arrived"] == 3
    hourly = client.get("/v1/reports/queues", params={"from": start, "by": "1h"}).json()
    assert all(i["to"] - i["from"] <= 3600 for i in hourly["intervals"])
    daily = client.get("/v1/reports/agents", params={"by": "1d"}).json()
    assert len(daily["intervals"]) == 1
    assert daily["intervals"][0]["agents"]["alice"]["handled"] == 2


def test_agent_reports_sum_per_group(served: Server) -> None:
    """SPEC §7/§8: agents' figures also come summed per attributes.group."""
    body = served.client("supervisor").get("/v1/reports/agents").json()
    assert body["agents"]["alice"]["handled"] == 2
    assert body["groups"]["tier1"]["handled"] == 2
    assert body["groups"]["tier1"]["occupancy"] == body["agents"]["alice"]["occupancy"]


def test_reports_come_as_csv_by_format_or_accept_header(served: Server) -> None:
    """Issue 16 item 2: CSV with format=csv or Accept: text/csv, one row per interval and scope."""
    client = served.client("supervisor")
    by_format = client.get("/v1/reports/queues", params={"format": "csv", "by": "1h"})
    by_header = client.get("/v1/reports/queues", params={"by": "1h"},
                           headers={"Accept": "text/csv"})  # fmt: skip
    assert by_format.headers["content-type"].startswith("text/csv")
    assert by_format.text == by_header.text
    table = list(csv.DictReader(io.StringIO(by_format.text)))
    assert {row["scope"] for row in table} == {"total", "queue", "workstream"}
    assert sum(int(row["arrived"]) for row in table if row["scope"] == "total") == 3
    assert table[0]["from"].endswith("Z")
    agents = client.get("/v1/reports/agents", params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(agents)))
    assert {(r["scope"], r["name"]) for r in rows} >= {("agent", "alice"), ("group", "tier1")}
    assert "presence_s.available" in rows[0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45T00:00:00Z"}, "to"),
        ({"by": "7m"}, "by"),
        ({"by": "0"}, "by"),
        ({"from": "2026-12-03T10:00:00Z", "to": "2026-12-03T09:00:00Z"}, "from"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_report_parameters_are_a_field_named_422(
    served: Server, params: dict[str, str], field: str
) -> None:
    """SPEC §10: a report parameter that cannot be read is a 422 naming it."""
    response = served.client("supervisor").get("/v1/reports/queues", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_reports_say_after_a_restart_what_they_said_before(tmp_path: Path) -> None:
    """SPEC §9: the reports are a fold of the log, rebuilt from it at a restart."""
    (tmp_path / "config.yaml").write_text(GROUPED)
    server = start_server(tmp_path / "u.db", tmp_path / "config.yaml")
    available(server, "alice")
    item = submit(server.client("intake"), "restart-1")
    server.client("alice").post(f"/v1/offers/{item['offer']['id']}/accept")
    end = time.time()
    before = server.client("supervisor").get("/v1/reports/queues", params={"to": end}).json()
    server.stop()
    again = start_server(tmp_path / "u.db", None)
    try:
        after = again.client("supervisor").get("/v1/reports/queues", params={"to": end}).json()
    finally:
        again.stop()
    assert after == before and before["totals"]["answered"] == 1


class _CountingStore(SqliteStore):
    """A real SQLite store that counts how often the log is read."""

    reads = 0

    def read(self, after: int = 0, limit: int | None = None) -> list[StoredRecord]:
        self.reads += 1
        return super().read(after, limit)


def test_a_report_reflects_every_acknowledged_event_without_reading_the_log(
    tmp_path: Path,
) -> None:
    """Issue 10 item 3 (SPEC §8): the host keeps the reports' KPIs folded as it appends, so a
    report is a sum over folded buckets: asking again reads nothing from the log, and a report
    asked right after more intakes were acknowledged counts them."""
    config = configuration.validate(yaml.safe_load(CONFIG))

    async def run() -> tuple[list[int], int]:
        store = _CountingStore(tmp_path / "u.db")
        host = EngineHost(store)
        host.restore(config)
        await host.start()
        reads = store.reads
        arrived = []
        for n in range(3):
            await host.command("submit", {"external_id": f"fold-{n}", "workstream": "chat"})
            first = await admin._report(host, "queues", (None, None, None), False)
            again = await admin._report(host, "queues", (None, None, "15m"), False)
            by_quarter = sum(i["totals"]["arrived"] for i in again["intervals"])
            assert by_quarter == first["totals"]["arrived"]
            arrived.append(first["totals"]["arrived"])
        await host.stop()
        return arrived, store.reads - reads

    arrived, reads = asyncio.run(run())
    assert arrived == [1, 2, 3]
    assert reads == 0
