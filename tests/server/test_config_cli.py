"""``unirouter config diff`` and ``unirouter config apply`` against a real server (SPEC §6.2, R41,
R42): the dry run changes nothing, apply changes everything at once, a bad file never leaves the
client and a refusal is one sentence."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from server_support import CONFIG, TOKENS, Server

from unirouter.cli import main

ADDED_QUEUE = CONFIG.replace(
    "  email_q: {kind: record, members: [bob]}",
    "  email_q: {kind: record, members: [bob]}\n  vip_q: {kind: messaging, members: [alice]}",
)


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _version(server: Server) -> int:
    with server.client() as client:
        return int(client.get("/v1/config").json()["version"])


def test_config_diff_is_a_dry_run_that_lists_the_change_and_changes_nothing_r42(
    server: Server, tmp_path: Path
) -> None:
    """R42: the dry run validates and diffs; the running version stays."""
    before = _version(server)
    new = tmp_path / "new.yaml"
    new.write_text(ADDED_QUEUE)
    code, output = _invoke(
        "config", "diff", str(new), "--url", server.url, "--token", TOKENS["admin"]
    )
    assert code == 0, output
    assert "+ queues.vip_q" in output.splitlines()
    assert _version(server) == before
    with server.client() as client:
        assert "vip_q" not in client.get("/v1/config").json()["config"]["queues"]


def test_config_apply_takes_the_whole_file_at_once_r42(server: Server, tmp_path: Path) -> None:
    """R42: apply bumps the version and the new queue is live."""
    before = _version(server)
    new = tmp_path / "new.yaml"
    new.write_text(ADDED_QUEUE)
    code, output = _invoke(
        "config", "apply", str(new), "--url", server.url, "--token", TOKENS["admin"]
    )
    assert code == 0, output
    assert f"applied: version {before + 1}" in output
    with server.client() as client:
        assert client.get("/v1/queues/vip_q").status_code == 200


def test_an_invalid_file_is_refused_locally_with_its_field_path_r41(
    server: Server, tmp_path: Path
) -> None:
    """R41: the file is validated as a whole before anything is sent; the server is untouched."""
    before = _version(server)
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("members: [alice, bob]}", "members: [alice, nobody]}", 1))
    code, output = _invoke(
        "config", "apply", str(bad), "--url", server.url, "--token", TOKENS["admin"]
    )
    assert code == 1
    assert "queues.chat_q.members" in output
    assert "nobody" in output
    assert _version(server) == before


def test_a_token_without_the_admin_role_gets_one_sentence_and_no_change(
    server: Server, tmp_path: Path
) -> None:
    """SPEC §6.3: configuration is the admin's; a supervisor token is refused (403)."""
    before = _version(server)
    new = tmp_path / "new.yaml"
    new.write_text(ADDED_QUEUE)
    code, output = _invoke(
        "config", "apply", str(new), "--url", server.url, "--token", TOKENS["supervisor"]
    )
    assert code == 1
    assert "403" in output
    assert "Traceback" not in output
    assert _version(server) == before


def test_an_unreachable_server_is_one_sentence(tmp_path: Path, config_file: Path) -> None:
    """SPEC §6.2: errors print one clear sentence and exit non-zero."""
    code, output = _invoke(
        "config", "diff", str(config_file), "--url", "http://127.0.0.1:9", "--token", "x"
    )
    assert code == 1
    assert output.startswith("cannot reach the server at http://127.0.0.1:9")
    assert "Traceback" not in output


def test_the_token_may_come_from_the_environment(server: Server, tmp_path: Path) -> None:
    """SPEC §6.2: every option also from UNIROUTER_<OPTION>."""
    new = tmp_path / "new.yaml"
    new.write_text(CONFIG)
    result = CliRunner().invoke(
        main,
        ["config", "diff", str(new), "--url", server.url],
        env={"UNIROUTER_TOKEN": TOKENS["admin"]},
    )
    assert result.exit_code == 0, result.output
    assert "no changes" in result.output
