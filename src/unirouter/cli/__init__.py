"""The ``unirouter`` command (SPEC §6.2): a thin shell over the library.

The command tree is written out here, in :data:`COMMANDS`: each entry names a command, the module
and function that implement it and the one-line summary ``--help`` shows. Nothing registers itself
by being imported, and a command's module (with the server, the simulator or pydantic behind it) is
imported only when that command runs, so ``unirouter --help`` and ``unirouter config validate``
start without loading what they do not use (issue 16 item 7).

Each command is a plain click command made with ``context_settings=CONTEXT``, so every option can
also come from ``UNIROUTER_<OPTION>``::

    @click.command("simulate", context_settings=CONTEXT)
    @click.argument("scenario", type=click.Path(path_type=Path))
    @click.option("--seed", type=int)
    def simulate(scenario: Path, seed: int | None) -> None: ...

and one line in :data:`COMMANDS`. Errors the library raises on purpose
(:class:`~unirouter.errors.UnirouterError`) are turned into sentences on stderr and an exit code in
one place, :class:`_Shell`; no traceback for user errors.
"""

from __future__ import annotations

from typing import Any

import click

from unirouter import errors
from unirouter.cli._lazy import Lazy, LazyGroup
from unirouter.cli._shared import CONTEXT, ENV_PREFIX, EXIT_CODES, error_lines, exit_code

__all__ = ["COMMANDS", "CONTEXT", "ENV_PREFIX", "EXIT_CODES", "main"]

#: The root's commands: name, ``module:attribute`` and the summary ``--help`` lists (the first
#: paragraph of the command's docstring; a test keeps the two equal).
COMMANDS = (
    Lazy("bench", "unirouter.cli._bench:bench", "Print benchmark figures (never a pass/fail)."),
    Lazy("capture", "unirouter.cli._whatif:capture",
         "Write the demand of a window as JSON lines: items, their handle times and patience, "
         "and the agents' presence timeline (format version 1, docs/replay.md)."),
    Lazy("compare", "unirouter.cli._whatif:compare",
         "SPEC §8 KPIs of two or more configurations on the same captured day, side by side, "
         "with 95% confidence half-widths over replications."),
    Lazy("config", "unirouter.cli._config:config_group",
         "Validate configuration files and print their JSON Schema (SPEC §5, R41)."),
    Lazy("demo", "unirouter.cli._simulate:demo",
         "Serve the bundled example configuration with live synthetic traffic and agents."),
    Lazy("replay", "unirouter.cli._whatif:replay",
         "Run the captured day through a configuration: the real engine in virtual time."),
    Lazy("report", "unirouter.cli._report:report",
         "SPEC §8 KPIs of the store's log over a window, per interval with --by."),
    Lazy("serve", "unirouter.cli._serve:serve",
         "Serve the HTTP and WebSocket API over a durable log (SPEC §6.3, §9)."),
    Lazy("simulate", "unirouter.cli._simulate:simulate",
         "Run the scenario SCENARIO.yaml in virtual time against the real engine (SPEC §7)."),
    Lazy("staff", "unirouter.cli._staff:staff",
         "The smallest headcount per interval of SCENARIO.yaml that meets --target."),
    Lazy("token", "unirouter.cli._serve:token_group", "API tokens (SPEC §6.3)."),
)  # fmt: skip


class _Shell(LazyGroup):
    """The root group: every subcommand's deliberate errors become sentences and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; report a UnirouterError without a traceback."""
        try:
            return super().invoke(ctx)
        except errors.UnirouterError as error:
            for line in error_lines(error):
                click.echo(line, err=True)
            ctx.exit(exit_code(error))


@click.group(cls=_Shell, lazy=COMMANDS, context_settings=CONTEXT)
@click.version_option(package_name="unirouter", prog_name="unirouter")
def main() -> None:
    """unirouter: unified routing and work distribution for customer service."""
