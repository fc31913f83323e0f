"""``unirouter config diff`` and ``unirouter config apply`` (SPEC §6.2, R41, R42): the shell over
``PUT /v1/config`` of a running server.

The file is validated here first, as a whole, so a broken file never reaches the server; then it is
sent as JSON with ``?dry_run=true`` (diff) or without (apply). The server validates it again and
applies it atomically or not at all. Listed on the ``config`` group (:mod:`unirouter.cli._config`),
which imports this module when one of them runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx

from unirouter import config as cfg
from unirouter.cli._shared import CONTEXT
from unirouter.errors import UnirouterError

__all__ = [
    "DEFAULT_URL",
    "RemoteError",
    "config_apply",
    "config_diff",
    "describe_diff",
    "put_config",
]

#: Where ``unirouter serve`` listens by default.
DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_S = 30.0


class RemoteError(UnirouterError):
    """The server could not be reached, or refused the request; the sentence says which."""


def put_config(
    url: str, token: str, file: Path, *, dry_run: bool, allow_destructive: bool = False
) -> dict[str, Any]:
    """Validate ``file`` locally, then ``PUT`` it to the server at ``url``; the server's answer."""
    document = cfg.load(file).model_dump(mode="json", warnings=False)
    endpoint = url.rstrip("/") + "/v1/config"
    params = {"dry_run": str(dry_run).lower(), "allow_destructive": str(allow_destructive).lower()}
    try:
        response = httpx.put(
            endpoint,
            params=params,
            json=document,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as error:
        raise RemoteError(f"cannot reach the server at {url}: {error}") from None
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    raise RemoteError(_problem_sentence(response))


def _problem_sentence(response: httpx.Response) -> str:
    """One sentence from an RFC 9457 problem response (or the bare status)."""
    try:
        problem = response.json()
    except ValueError:
        return f"the server answered {response.status_code} {response.reason_phrase}"
    detail = problem.get("detail") or problem.get("title") or response.reason_phrase
    errors = problem.get("errors") or []
    fields = "; ".join(
        f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)
    )
    return f"the server refused the configuration ({response.status_code}): {detail}" + (
        f" ({fields})" if fields else ""
    )


def describe_diff(diff: dict[str, dict[str, list[str]]]) -> list[str]:
    """``+ queues.billing`` added, ``- agents.carol`` removed, ``~ workstreams.chat`` changed
    (with the fields that changed: ``~ queues.billing: members, overflow[0].action``)."""
    lines: list[str] = []
    for section, change in sorted(diff.items()):
        lines.extend(f"+ {section}.{name}" for name in change.get("added", []))
        lines.extend(f"- {section}.{name}" for name in change.get("removed", []))
        fields = change.get("fields", [])
        for name in change.get("changed", []):
            said = ", ".join(_within(fields, name))
            lines.append(f"~ {section}.{name}" + (f": {said}" if said else ""))
    return lines or ["no changes"]


def _within(fields: list[str], name: str) -> list[str]:
    """The changed field paths of entry ``name``, relative to it."""
    return [f.removeprefix(name).lstrip(".") for f in fields
            if f.startswith((f"{name}.", f"{name}["))]  # fmt: skip


_URL = click.option(
    "--url", default=DEFAULT_URL, show_default=True, help="The running server's base URL."
)
_TOKEN = click.option("--token", required=True, help="An admin bearer token (or UNIROUTER_TOKEN).")
_DESTRUCTIVE = click.option(
    "--allow-destructive",
    is_flag=True,
    help="Apply even a configuration that removes every queue (an empty file does).",
)


@click.command("diff", context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@_URL
@_TOKEN
@_DESTRUCTIVE
def config_diff(file: Path, url: str, token: str, allow_destructive: bool) -> None:
    """Validate FILE and show what applying it to the server at --url would change (R42 dry run).

    Changes nothing, and refuses exactly what apply would refuse. Prints one line per added (+),
    removed (-) or changed (~) entry, a changed one with the fields that changed.
    """
    answer = put_config(url, token, file, dry_run=True, allow_destructive=allow_destructive)
    click.echo(f"running configuration: version {answer['version']}")
    for line in describe_diff(answer["diff"]):
        click.echo(line)


@click.command("apply", context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path))
@_URL
@_TOKEN
@_DESTRUCTIVE
def config_apply(file: Path, url: str, token: str, allow_destructive: bool) -> None:
    """Validate FILE and apply it atomically to the server at --url (R41, R42).

    Either the whole configuration takes effect for the next decision, or nothing changes. One
    that removes every queue is refused unless --allow-destructive.
    """
    answer = put_config(url, token, file, dry_run=False, allow_destructive=allow_destructive)
    click.echo(f"applied: version {answer['version']}")
    for line in describe_diff(answer["diff"]):
        click.echo(line)
