"""``unirouter bench engine|sim|server``: benchmark figures, never a pass or fail (STYLE).

The benchmarks themselves are in :mod:`unirouter.bench`; each is imported only when its command
runs.
"""

from __future__ import annotations

import json

import click

from unirouter.cli._shared import CONTEXT

__all__ = ["bench", "bench_engine", "bench_server", "bench_sim"]


@click.group("bench", context_settings=CONTEXT)
def bench() -> None:
    """Print benchmark figures (never a pass/fail)."""


@bench.command("engine", context_settings=CONTEXT)
@click.option("--sizes", default="1000,10000,100000", show_default=True, help="Agents per run.")
@click.option("--items", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array instead of a table.")
def bench_engine(sizes: str, items: int, as_json: bool) -> None:
    """Drive the engine in-process: submit → assign → complete at load 0.9 (20 queues, 10 skills)."""
    from unirouter.bench import engine as benchmarks

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
    from unirouter.bench import sim as sim_bench

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
    from unirouter.bench import server as server_bench

    if postgres is not None and not postgres.lower().startswith("postgres"):
        raise click.BadParameter("only a postgresql:// URL (SQLite always runs)", param_hint="--db")
    figures = server_bench.run(clients=clients, seconds=seconds, rate=rate, postgres=postgres)
    if as_json:
        click.echo(json.dumps(server_bench.as_json(figures)))
    else:
        click.echo(server_bench.report(figures))
