"""``unirouter serve`` on PostgreSQL (SPEC §6.2, §9): ``--db postgresql://…`` or ``UNIROUTER_DB``."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
from server_support import TOKENS, Server, submit

from unirouter.server import spawn
from unirouter.storage.postgres import PostgresStore


def serve_with_env(db: str, config: Path | None) -> Server:
    """``unirouter serve`` with the store named by ``UNIROUTER_DB`` only."""
    served = spawn.serve(*(["--config", str(config)] if config else []), env={"UNIROUTER_DB": db})
    return Server(process=served.process, url=served.url, stderr=served.stderr)


def test_serve_on_postgresql_keeps_an_acknowledged_item_across_a_restart(
    postgres_url: str, config_file: Path
) -> None:
    """An item acknowledged by a server on PostgreSQL (UNIROUTER_DB) is served after a restart."""
    first = serve_with_env(postgres_url, config_file)
    try:
        with first.client("intake") as intake:
            item = submit(intake, "pg-1")
    finally:
        first.stop()
    again = serve_with_env(postgres_url, None)
    try:
        served = httpx.get(f"{again.url}/v1/work-items/{item['id']}", timeout=10,
                           headers={"Authorization": f"Bearer {TOKENS['admin']}"})  # fmt: skip
        assert served.status_code == 200
        assert served.json()["external_id"] == "pg-1"
    finally:
        again.stop()


def test_a_server_whose_database_schema_was_replaced_answers_503(
    postgres_url: str, config_file: Path
) -> None:
    """Issue 17 item 6 on PostgreSQL: the schema dropped and migrated afresh (another store) under a
    running server: ``/readyz`` and the next intake answer 503, and nothing lands in the new one."""
    server = serve_with_env(postgres_url, config_file)
    try:
        with server.client("intake") as intake:
            submit(intake, "pg-before")
            with psycopg.connect(postgres_url, autocommit=True) as connection:
                connection.execute("DROP SCHEMA public CASCADE")
                connection.execute("CREATE SCHEMA public")
            PostgresStore(postgres_url).close()
            ready = httpx.get(f"{server.url}/readyz", timeout=10)
            # (503 naming the identity row, or, if the leader's lease renewal met the dropped
            # schema first, 503 for the lost leadership: not ready either way)
            assert ready.status_code == 503, ready.text
            answer = intake.post("/v1/work-items", json={"external_id": "pg-after",
                                                         "workstream": "chat"})  # fmt: skip
            assert answer.status_code == 503, answer.text
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            assert connection.execute("SELECT count(*) FROM records").fetchone() == (0,)
    finally:
        server.stop()
