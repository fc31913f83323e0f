"""``unirouter config validate`` and ``unirouter config schema`` (SPEC §5, R41), and the group that
also lists ``config diff`` and ``config apply`` (:mod:`unirouter.cli._remote`, loaded when used).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from unirouter import config as cfg
from unirouter import errors
from unirouter.cli._lazy import Lazy, LazyGroup
from unirouter.cli._shared import CONTEXT, EXIT_CODES, count, error_lines

__all__ = ["REMOTE", "config_group", "config_schema", "config_validate"]

#: The commands that speak to a running server (httpx), imported only when one runs.
REMOTE = (
    Lazy("apply", "unirouter.cli._remote:config_apply",
         "Validate FILE and apply it atomically to the server at --url (R41, R42)."),
    Lazy("diff", "unirouter.cli._remote:config_diff",
         "Validate FILE and show what applying it to the server at --url would change "
         "(R42 dry run)."),
)  # fmt: skip


@click.group("config", cls=LazyGroup, lazy=REMOTE, context_settings=CONTEXT)
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
        for line in error_lines(error):
            click.echo(line, err=True)
        click.echo(f"{file}: invalid ({count(len(error.issues), 'issue')})", err=True)
        ctx.exit(EXIT_CODES[errors.ConfigError])
    sizes = [
        count(len(loaded.workstreams), "workstream"),
        count(len(loaded.queues), "queue"),
        count(len(loaded.agents), "agent"),
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
