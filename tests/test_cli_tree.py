"""The `unirouter` command tree (issue 14 item 4, issue 16 item 7): written out in one table,
each command imported only when it runs, so `--help` and `config validate` start quickly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from unirouter import cli, config
from unirouter.cli import _config
from unirouter.cli._lazy import Lazy

CONTACT_CENTRE = Path(config.__file__).parent.parent / "examples" / "contact_centre.yaml"

#: What a command that only reads a configuration file must not load.
HEAVY = ("unirouter.server", "unirouter.sim", "unirouter.engine.engine", "fastapi", "httpx",
         "uvicorn", "matplotlib", "psycopg")  # fmt: skip


def loaded_modules(*args: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``unirouter ARGS``."""
    code = (
        "import json, sys\n"
        "from unirouter.cli import main\n"
        "try:\n"
        f"    main({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def heavy(modules: list[str]) -> list[str]:
    """The modules of :data:`HEAVY` (and their submodules) among ``modules``."""
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def summary(command: click.Command) -> str:
    """The first paragraph of a command's help, as click shortens it for a listing."""
    return " ".join((command.help or "").split("\n\n")[0].split())


@pytest.mark.parametrize("entry", [*cli.COMMANDS, *_config.REMOTE], ids=lambda e: e.name)
def test_each_listed_summary_is_the_commands_own_first_paragraph(entry: Lazy) -> None:
    """`--help` shows the table's summary without importing the command: it must say what the
    command's own docstring says."""
    command = entry.load()
    assert (command.name, summary(command)) == (entry.name, entry.summary)


def test_help_lists_every_command_without_importing_any() -> None:
    """Issue 16 item 7: `unirouter --help` loads neither the server, the simulator nor the engine."""
    modules = loaded_modules("--help")
    assert heavy(modules) == []
    assert "unirouter.config.model" not in modules


def test_config_validate_loads_only_the_configuration() -> None:
    """Issue 16 item 7: `config validate FILE` reads the file without the server, the simulator
    or the engine behind it."""
    modules = loaded_modules("config", "validate", str(CONTACT_CENTRE))
    assert "unirouter.config.model" in modules
    assert heavy(modules) == []


def test_the_help_listing_names_every_command_of_the_table() -> None:
    """The root and `config` listings come from the tables, in name order."""
    root = CliRunner().invoke(cli.main, ["--help"]).stdout
    group = CliRunner().invoke(cli.main, ["config", "--help"]).stdout
    listed = [line.split()[0] for line in root.split("Commands:\n")[1].splitlines() if line]
    assert listed == sorted(entry.name for entry in cli.COMMANDS)
    for name in ("apply", "diff", "schema", "validate"):
        assert f"  {name} " in group


def test_a_command_added_at_run_time_is_listed_and_runs() -> None:
    """A plain `add_command` still works beside the table (plugins, tests)."""

    @click.command("hello-for-test")
    def hello() -> None:
        """Say hello."""
        click.echo("hello")

    cli.main.add_command(hello)
    try:
        assert "hello-for-test  Say hello." in CliRunner().invoke(cli.main, ["--help"]).stdout
        assert CliRunner().invoke(cli.main, ["hello-for-test"]).stdout == "hello\n"
    finally:
        del cli.main.commands["hello-for-test"]


def test_an_unknown_command_is_a_usage_error() -> None:
    """An unknown name is click's usage error (exit 2), not an import failure."""
    result = CliRunner().invoke(cli.main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.stderr
