"""The ``unirouter`` command (SPEC §6.2): a thin shell over the library.

Each subcommand is a plain function registered on :data:`main` (or on one of its groups) with
``context_settings=CONTEXT``, so every option can also come from ``UNIROUTER_<OPTION>``::

    @main.command("simulate", context_settings=CONTEXT)
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option("--seed", type=int)
    def simulate(scenario: Path, seed: int | None) -> None: ...

Errors the library raises on purpose (:class:`~unirouter.errors.UnirouterError`) are turned into
sentences on stderr and an exit code in one place, :class:`_Shell`; no traceback for user errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from unirouter import config as cfg
from unirouter import errors

__all__ = ["CONTEXT", "ENV_PREFIX", "EXIT_CODES", "main"]

#: Every option ``--some-option`` may also come from ``UNIROUTER_SOME_OPTION`` (SPEC §6.2).
ENV_PREFIX = "UNIROUTER"
#: Context settings of every command. Click would otherwise prefix nested commands' variables
#: with their names (``UNIROUTER_CONFIG_SCHEMA_OUTPUT``); SPEC §6.2 wants ``UNIROUTER_OUTPUT``.
CONTEXT: dict[str, Any] = {"auto_envvar_prefix": ENV_PREFIX, "help_option_names": ["-h", "--help"]}
#: Exit code of each error family, looked up along the error's class hierarchy (2 is click's
#: usage error).
EXIT_CODES: dict[type[errors.UnirouterError], int] = {
    errors.ConfigError: 1,
    errors.ExpressionError: 1,
    errors.CommandError: 1,
    errors.UnirouterError: 1,
}


class _Shell(click.Group):
    """The root group: every subcommand's deliberate errors become sentences and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; report a UnirouterError without a traceback."""
        try:
            return super().invoke(ctx)
        except errors.UnirouterError as error:
            for line in _error_lines(error):
                click.echo(line, err=True)
            ctx.exit(_exit_code(error))


def _error_lines(error: errors.UnirouterError) -> list[str]:
    """One line per configuration issue, otherwise the error's sentence."""
    if isinstance(error, errors.ConfigError):
        return [str(issue) for issue in error.issues]
    return [str(error)]


def _exit_code(error: errors.UnirouterError) -> int:
    """The exit code of the closest error family in :data:`EXIT_CODES`."""
    for family in type(error).__mro__:
        if family in EXIT_CODES:
            return EXIT_CODES[family]
    return 1


def _count(number: int, noun: str) -> str:
    """``1 queue``, ``3 queues``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


@click.group(cls=_Shell, context_settings=CONTEXT)
@click.version_option(package_name="unirouter", prog_name="unirouter")
def main() -> None:
    """unirouter: unified routing and work distribution for customer service."""


@main.group("config", context_settings=CONTEXT)
def config_group() -> None:
    """Validate configuration files and print their JSON Schema (SPEC §5, R41)."""


@config_group.command("validate", context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def config_validate(ctx: click.Context, file: Path) -> None:
    """Check FILE, a YAML file or a folder of them, as a whole (R41).

    Prints a summary and exits 0 when valid; otherwise prints every issue as ``path: message``
    on stderr and exits 1.
    """
    try:
        loaded = cfg.load(file)
    except errors.ConfigError as error:
        for line in _error_lines(error):
            click.echo(line, err=True)
        click.echo(f"{file}: invalid ({_count(len(error.issues), 'issue')})", err=True)
        ctx.exit(EXIT_CODES[errors.ConfigError])
    sizes = [
        _count(len(loaded.workstreams), "workstream"),
        _count(len(loaded.queues), "queue"),
        _count(len(loaded.agents), "agent"),
    ]
    click.echo(f"{file}: valid ({', '.join(sizes)})")


@config_group.command("schema", context_settings=CONTEXT)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the schema to this file instead of standard output.",
)
def config_schema(output: Path | None) -> None:
    """Print the JSON Schema of the configuration file (SPEC §5)."""
    text = json.dumps(cfg.json_schema(), indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
        return
    try:
        output.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        raise click.FileError(str(output), hint=error.strerror or str(error)) from None


@main.group("bench", context_settings=CONTEXT)
def bench() -> None:
    """Print benchmark figures (never a pass/fail)."""


@bench.command("engine", context_settings=CONTEXT)
@click.option("--sizes", default="1000,10000,100000", show_default=True, help="Agents per run.")
@click.option("--items", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of a table.")
def bench_engine(sizes: str, items: int, as_json: bool) -> None:
    """Drive the engine in-process: submit → assign → complete at load 0.9 (20 queues, 10 skills)."""
    from unirouter import benchmarks

    try:
        agent_counts = [int(size) for size in sizes.split(",")]
    except ValueError:
        raise click.BadParameter(
            "a comma-separated list of agent counts", param_hint="--sizes"
        ) from None
    results = [benchmarks.run_engine_bench(n, items) for n in agent_counts]
    click.echo(json.dumps(benchmarks.as_json(results)) if as_json else benchmarks.report(results))


@bench.command("sim", context_settings=CONTEXT)
@click.option("--arrivals", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--servers", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--load", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
    show_default=True,
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def bench_sim(arrivals: int, servers: int, load: float, as_json: bool) -> None:
    """The same M/M/c model through unirouter, Ciw and SimPy, each in its own process."""
    from unirouter import bench_sim as sim_bench

    model = sim_bench.Model(arrivals=arrivals, servers=servers, load=load)
    outcomes = sim_bench.run_all(model)
    if as_json:
        click.echo(json.dumps(sim_bench.as_json(model, outcomes)))
    else:
        click.echo(sim_bench.report(model, outcomes))


@bench.command("server", context_settings=CONTEXT)
@click.option("--clients", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Length of each phase.")  # fmt: skip
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=200.0,
              show_default=True, help="Intakes per second in the latency phase.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--db", "postgres", default=None, metavar="postgresql://…",
              help="Also measure on this PostgreSQL server (in a database made for the run), "
                   "beside SQLite.")  # fmt: skip
def bench_server(
    clients: int, seconds: float, rate: float, as_json: bool, postgres: str | None
) -> None:
    """Durable intakes/s and intake-to-offer latency over loopback, beside a bare endpoint
    (and beside PostgreSQL with ``--db postgresql://…``)."""
    from unirouter import bench_server as server_bench

    if postgres is not None and not postgres.lower().startswith("postgres"):
        raise click.BadParameter("only a postgresql:// URL (SQLite always runs)", param_hint="--db")
    figures = server_bench.run(clients=clients, seconds=seconds, rate=rate, postgres=postgres)
    if as_json:
        click.echo(json.dumps(server_bench.as_json(figures)))
    else:
        click.echo(server_bench.report(figures))


# Subcommands that live beside their subsystem register themselves on `main` when imported.
from unirouter.analytics import cli as _analytics_cli  # noqa: E402, F401
from unirouter.server import cli as _server_cli  # noqa: E402, F401
from unirouter.server import config_cli as _config_cli  # noqa: E402, F401
from unirouter.sim import cli as _sim_cli  # noqa: E402, F401
from unirouter.sim import staff_cli as _staff_cli  # noqa: E402, F401
from unirouter.whatif import cli as _whatif_cli  # noqa: E402, F401
