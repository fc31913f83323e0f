"""Logged commands: what the server asked the engine to do, as JSON, and how to run it again.

A command record is the JSON object ``{"op": NAME, "t": ENGINE_TIME, "args": {...}}``, plus
``"actor"`` (who asked) and ``"refused": ERROR_CLASS`` when the engine refused it after firing due
timers (the events of those timers are logged, so the refusal is replayed too). ``op`` and
``args`` are a record of the engine's command vocabulary (:mod:`unirouter.engine.commands`), which
decodes them; the same :func:`run` drives the live engine and the replay, so a log re-run on a
fresh engine emits the same events (the engine is deterministic).

``init`` and ``apply_config`` carry the whole configuration as JSON, so a restart needs no file;
``message`` carries a conversation message (not an engine command: it only resumes a parked
conversation when the customer writes); ``channel`` carries the channels' bookkeeping (delivery
cursors, dead letters, :mod:`unirouter.channels.index`) and does nothing to the engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

from unirouter import errors
from unirouter.config import model
from unirouter.engine import Engine
from unirouter.engine import commands as vocabulary
from unirouter.server import _entropy

__all__ = ["OPS", "command_of", "config_json", "new_item_id", "run"]

#: The ``op`` of every record the log may hold (``init`` only first).
OPS = vocabulary.OPS


def config_json(config: model.Config) -> dict[str, Any]:
    """The configuration as plain JSON that :func:`unirouter.config.validate` reads back equal."""
    return config.model_dump(mode="json", warnings=False)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_item_id() -> str:
    """A sortable, unique work item id: a ULID (48-bit milliseconds then 80 random bits, in
    Crockford base32, so text order is time order)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(_entropy.token_bytes(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def command_of(op: str, args: Mapping[str, Any]) -> vocabulary.Command:
    """The engine command a logged ``op`` and ``args`` name (``InvalidCommand`` naming the field
    when they name none; ``init`` starts an engine and runs on none)."""
    if op == vocabulary.Init.op:
        raise errors.InvalidCommand("init starts a log; it runs on no engine", field="op")
    return cast(vocabulary.Command, vocabulary.decode(op, args))


def run(engine: Engine, op: str, args: Mapping[str, Any]) -> object:
    """Run one logged command on ``engine`` (the live one or a replaying one)."""
    return vocabulary.execute(engine, command_of(op, args))
