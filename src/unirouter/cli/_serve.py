"""``unirouter serve`` and ``unirouter token create | list | revoke`` (SPEC §6.2, §6.3).

``serve`` replays the log (or starts one from ``--config``), binds, prints one line with its URL once
listening (``--port 0`` picks a free port and prints it), and stops gracefully on SIGTERM or SIGINT:
the appends in flight finish and the store closes. If the log cannot be written it stops serving
and exits 1 rather than diverge from its log.
"""

from __future__ import annotations

import faulthandler
import signal
import socket
import sys
from pathlib import Path

import click
import uvicorn

from unirouter import config as cfg
from unirouter.cli._shared import CONTEXT
from unirouter.config import model
from unirouter.server import _gc_pauses, auth, cluster, limits
from unirouter.server import app as server_app
from unirouter.server import host as host_module
from unirouter.storage import PostgresStore, StoreLost, open_store

__all__ = ["serve", "token_create", "token_list", "token_revoke"]

DEFAULT_DB = "./unirouter.db"


class _Server(uvicorn.Server):
    """Prints the URL once the socket listens (the real port, also for ``--port 0``)."""

    url = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            click.echo(f"unirouter serving on {self.url}", nl=True)
            sys.stdout.flush()


@click.command("serve", context_settings=CONTEXT)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="Configuration file or folder; needed at the first start only.",
)
@click.option("--db", default=DEFAULT_DB, show_default=True, envvar="UNIROUTER_DB",
              help="Store URL or SQLite file; postgresql://… lets several servers share it.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port; 0 picks a free one.")  # fmt: skip
@click.option("--snapshot-every", type=click.IntRange(min=0), default=host_module.SNAPSHOT_EVERY,
              show_default=True, envvar="UNIROUTER_SNAPSHOT_EVERY",
              help="Log records between engine snapshots (a restart replays only the records "
                   "after the latest); 0 turns snapshots off.")  # fmt: skip
@click.option("--advertise-url", default=None,
              help="PostgreSQL: the URL the other servers reach this one at (default: the bound "
                   "address); followers forward writes to the leader's.")  # fmt: skip
@click.option("--lease-s", type=click.FloatRange(min=0.5), default=3.0, show_default=True,
              help="PostgreSQL: the leader's lease; a paused or cut-off leader is replaced after "
                   "it (a dead one at once).")  # fmt: skip
@click.option("--failover-grace-s", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="PostgreSQL: after a failover, how long agents have to reopen their stream on "
                   "any server before the new leader marks them offline (R35).")  # fmt: skip
@click.option("--retain-closed", type=click.IntRange(min=0), default=host_module.RETAIN_CLOSED,
              show_default=True, envvar="UNIROUTER_RETAIN_CLOSED",
              help="Closed items kept readable in memory; older ones live on in the log (and "
                   "their external ids stay taken).")  # fmt: skip
@click.option("--limit", "limit_pairs", multiple=True, metavar="NAME=VALUE",
              envvar="UNIROUTER_LIMIT",
              help="A server limit (docs/server.md \"Limits\"), e.g. message_text_bytes=8192; "
                   "0 turns one off. Repeatable.")  # fmt: skip
def serve(
    config_file: Path | None,
    db: str,
    host: str,
    port: int,
    snapshot_every: int,
    advertise_url: str | None,
    lease_s: float,
    failover_grace_s: float,
    retain_closed: int,
    limit_pairs: tuple[str, ...],
) -> None:
    """Serve the HTTP and WebSocket API over a durable log (SPEC §6.3, §9)."""
    try:
        bounds = limits.parse(limit_pairs)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--limit") from None
    config = cfg.load(config_file) if config_file is not None else None
    app, engine_host, said = server_app.open_app(db, config, bounds, retain_closed)
    engine_host.snapshot_every = snapshot_every or None
    click.echo(f"unirouter: {said}", err=True)
    try:
        sock = server_app.listen_socket(host, port)
    except OSError as error:
        engine_host.store.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = sock.getsockname()[1]
    server = _Server(server_app.uvicorn_config(app, bounds, log_level="warning", lifespan="on",
                                          ws="auto"))  # fmt: skip
    shown = f"[{host}]" if ":" in host else host
    server.url = f"http://{shown}:{bound}"
    if isinstance(engine_host.store, PostgresStore):
        cluster.install(app, engine_host, engine_host.store, advertise_url or server.url,
                        ttl_s=lease_s, grace_s=failover_grace_s)  # fmt: skip

    def stop_on_failure(exc: BaseException) -> None:
        if isinstance(exc, StoreLost) or isinstance(exc.__cause__, StoreLost):
            # Issue 17 item 6: stay up, answering 503 and not ready, so that nobody restarts
            # this server onto a fresh empty file in place of the one that was lost.
            click.echo(f"unirouter: not serving: {exc.__cause__ or exc}", err=True)
            return
        server.should_exit = True

    engine_host.on_failure = stop_on_failure
    _gc_pauses.bound_gc_pauses()  # after the replay: the restored state is long-lived
    # A SIGBUS (an -shm file truncated under SQLite's mmap) is reported with tracebacks on stderr.
    faulthandler.enable()
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler
    # it found; a quiet one makes a clean shutdown exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    server.run(sockets=[sock])  # uvicorn's loop: uvloop when installed, else asyncio
    if engine_host.failure is not None:
        failure = engine_host.failure
        cause = failure.__cause__ if failure.__cause__ is not None else failure
        raise click.ClickException(f"stopped: the log could not be written ({cause})")


@click.group("token", context_settings=CONTEXT)
def token_group() -> None:
    """API tokens (SPEC §6.3)."""


@token_group.command("create", context_settings=CONTEXT)
@click.option("--role", required=True, type=click.Choice([r.value for r in model.Role]))
@click.option("--agent", default=None, help="The agent an agent token acts as.")
@click.option("--name", default=None, help="A label for the token (default: role and agent).")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Store URL or SQLite file.")
def token_create(role: str, agent: str | None, name: str | None, db: str) -> None:
    """Print a new token once; only its SHA-256 is stored (in the store at --db)."""
    chosen = model.Role(role)
    if (chosen is model.Role.AGENT) != (agent is not None):
        raise click.BadParameter(
            "an agent token needs --agent, and only an agent token takes one", param_hint="--agent"
        )
    store = open_store(db)
    try:
        click.echo(auth.create_token(store, chosen, agent, name))
    finally:
        store.close()


@token_group.command("list", context_settings=CONTEXT)
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Store URL or SQLite file.")
def token_list(db: str) -> None:
    """List the tokens made by token create: id, role, agent, created, name (never the token)."""
    store = open_store(db)
    try:
        found = auth.list_tokens(store)
    finally:
        store.close()
    for token in found:
        click.echo(f"{token.id}  {token.role.value:<10}  {token.agent or '-':<12}  "
                   f"{token.created_at or '-':<20}  {token.name}")  # fmt: skip


@token_group.command("revoke", context_settings=CONTEXT)
@click.argument("token_id")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="Store URL or SQLite file.")
def token_revoke(token_id: str, db: str) -> None:
    """Revoke the token TOKEN_ID (its id from token list): a running server refuses it at once."""
    store = open_store(db)
    try:
        revoked = auth.revoke_token(store, token_id)
    finally:
        store.close()
    click.echo(f"revoked {revoked.id} ({revoked.name})")
