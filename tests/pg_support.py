"""The real PostgreSQL of the tests: 127.0.0.1:5432 with trust auth, user postgres or root.

Each test that needs one gets its own database, named uniquely, created for it and dropped after
it (``fresh_database``). ``UNIROUTER_TEST_PG`` overrides the server's admin URL. When no server
answers, the PostgreSQL tests are skipped and the run's summary says so loudly (tests/conftest.py);
``.ci/run`` starts the local cluster first whenever PostgreSQL is installed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from functools import cache

import psycopg
from psycopg import sql

__all__ = ["admin_url", "database_url", "fresh_database", "unreachable"]

CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)


@cache
def _probe() -> tuple[str | None, str]:
    """The first admin URL that connects, or None and why none did."""
    chosen = os.environ.get("UNIROUTER_TEST_PG")
    reasons = []
    for url in (chosen,) if chosen else CANDIDATES:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url, ""
        except psycopg.Error as exc:
            reasons.append(f"{url}: {str(exc).strip().splitlines()[0] if str(exc) else exc}")
    return None, "; ".join(reasons)


def admin_url() -> str | None:
    return _probe()[0]


def unreachable() -> str:
    """Why no PostgreSQL server answered ('' when one did)."""
    return _probe()[1]


def database_url(name: str) -> str:
    admin = admin_url()
    assert admin is not None
    return admin.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def fresh_database(prefix: str = "unirouter_test") -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards (connections still open are
    terminated, e.g. those of a server process the test killed)."""
    admin = admin_url()
    assert admin is not None, "no PostgreSQL server"
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
