"""The `unirouter config` commands (SPEC §6.2): validate and schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from unirouter import cli, config

EXAMPLES = Path(config.__file__).parent.parent / "examples"
CONTACT_CENTRE = EXAMPLES / "contact_centre.yaml"

INVALID = """
workstreams:
  web_chat: {kind: messaging, fallback_queue: general}
queues:
  chat: {kind: messaging, members: [zoe]}
"""


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the command line ``unirouter ARGS``."""
    result = CliRunner().invoke(cli.main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_validate_a_valid_file_prints_a_summary() -> None:
    """SPEC §6.2: a valid file prints FILE: valid (N workstreams, N queues, N agents), exit 0."""
    code, out, err = run("config", "validate", str(CONTACT_CENTRE))
    assert (code, err) == (0, "")
    assert out == f"{CONTACT_CENTRE}: valid (4 workstreams, 10 queues, 8 agents)\n"


def test_validate_an_invalid_file_prints_every_issue(tmp_path: Path) -> None:
    """R41: every issue as `path: message` on stderr, exit 1, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID, encoding="utf-8")
    code, out, err = run("config", "validate", str(path))
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0].startswith("workstreams.web_chat.fallback_queue: unknown queue 'general'")
    assert lines[1].startswith("queues.chat.members[0]: unknown agent 'zoe'")
    assert lines[2] == f"{path}: invalid (2 issues)"
    assert "Traceback" not in err


def test_validate_a_missing_file_is_one_sentence(tmp_path: Path) -> None:
    """SPEC §6.2: a user error is a sentence and a non-zero exit, never a traceback."""
    code, _, err = run("config", "validate", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err.splitlines()[0] == f"{tmp_path / 'nope.yaml'}: no such file or folder"


def test_validate_a_yaml_error_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error is reported with its file and line."""
    path = tmp_path / "broken.yaml"
    path.write_text("queues:\n  q: [\n", encoding="utf-8")
    code, _, err = run("config", "validate", str(path))
    assert code == 1
    assert err.startswith(f"{path}:")


def test_validate_a_folder(tmp_path: Path) -> None:
    """A folder of YAML files validates as one configuration."""
    (tmp_path / "a.yaml").write_text("queues: {q: {kind: voice}}\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("agents: {ann: {}}\n", encoding="utf-8")
    code, out, _ = run("config", "validate", str(tmp_path))
    assert code == 0
    assert out.endswith("valid (0 workstreams, 1 queue, 1 agent)\n")


def test_schema_is_json_describing_workstreams() -> None:
    """SPEC §5: `config schema` prints the JSON Schema, indented by 2."""
    code, out, _ = run("config", "schema")
    assert code == 0
    assert "workstreams" in json.loads(out)["properties"]
    assert out.startswith('{\n  "')


def test_schema_output_option_comes_from_the_environment(tmp_path: Path) -> None:
    """SPEC §6.2: every option can come from UNIROUTER_<OPTION>."""
    target = tmp_path / "schema.json"
    code, out, _ = run("config", "schema", env={"UNIROUTER_OUTPUT": str(target)})
    assert (code, out) == (0, "")
    assert "workstreams" in json.loads(target.read_text(encoding="utf-8"))["properties"]


def test_unknown_command_is_a_usage_error() -> None:
    """Click's usage errors exit 2 with a sentence."""
    code, _, err = run("config", "frobnicate")
    assert code == 2
    assert "No such command" in err


def test_unirouter_errors_become_sentences_without_traceback() -> None:
    """SPEC §6.2: the shell maps every UnirouterError to a sentence and an exit code."""
    from unirouter import errors

    @cli.main.command("explode-for-test", context_settings=cli.CONTEXT)
    def explode() -> None:
        raise errors.NotFound("unknown agent 'zoe'", agent="zoe")

    try:
        code, _, err = run("explode-for-test")
    finally:
        del cli.main.commands["explode-for-test"]
    assert (code, err) == (1, "unknown agent 'zoe'\n")


@pytest.mark.parametrize(("name", "code"), [("contact_centre.yaml", 0), ("missing.yaml", 1)])
def test_console_script_runs_as_a_real_process(name: str, code: int) -> None:
    """The installed `unirouter` console script validates and sets its exit code."""
    script = Path(sys.executable).parent / "unirouter"
    if not script.exists():
        pytest.skip("the unirouter console script is not installed beside this interpreter")
    done = subprocess.run(
        [str(script), "config", "validate", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code
    assert ("valid (" in done.stdout) is (code == 0)
    assert "Traceback" not in done.stderr
