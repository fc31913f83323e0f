"""Logged commands: what the server asked the engine to do, as JSON, and how to run it again.

A command record is the JSON object ``{"op": NAME, "t": ENGINE_TIME, "args": {...}}``, plus
``"refused": ERROR_CLASS`` when the engine refused it after firing due timers (the events of those
timers are logged, so the refusal is replayed too). The same :func:`run` drives the live engine and
the replay, so a log re-run on a fresh engine emits the same events (the engine is deterministic).

``init`` and ``apply_config`` carry the whole configuration as JSON, so a restart needs no file;
``message`` carries a conversation message (not an engine command: it only resumes a parked
conversation when the customer writes); ``channel`` carries the channels' bookkeeping (delivery
cursors, dead letters, :mod:`unirouter.channels.index`) and does nothing to the engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from unirouter import config as configuration
from unirouter.config import model
from unirouter.engine import CloseReason, Engine

__all__ = ["OPS", "config_json", "new_item_id", "run"]


def config_json(config: model.Config) -> dict[str, Any]:
    """The configuration as plain JSON that :func:`unirouter.config.validate` reads back equal."""
    return config.model_dump(mode="json", warnings=False)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_item_id() -> str:
    """A sortable, unique work item id: a ULID (48-bit milliseconds then 80 random bits, in
    Crockford base32, so text order is time order)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _submit(engine: Engine, args: Mapping[str, Any]) -> object:
    params = dict(args)
    if params.get("skills") is not None:
        params["skills"] = [model.SkillReq.model_validate(s) for s in params["skills"]]
    return engine.submit(**params)


def _update(engine: Engine, args: Mapping[str, Any]) -> object:
    return engine.update_item(
        args["item"], attributes=args.get("attributes"), priority=args.get("priority")
    )


def _cancel(engine: Engine, args: Mapping[str, Any]) -> object:
    return engine.cancel(args["item"], reason=CloseReason(args.get("reason", "abandoned")))


def _presence(engine: Engine, args: Mapping[str, Any]) -> object:
    presence = model.BasePresence(args["presence"])
    engine.set_presence(args["agent"], presence, label=args.get("label"))
    return None


def _apply(engine: Engine, args: Mapping[str, Any]) -> object:
    # The edges checked the text and numbers of a new configuration (issue 17); a replay re-runs
    # what an older build logged, which must still restart.
    return engine.apply_config(configuration.validate(args["config"], check_values=False))


def _message(engine: Engine, args: Mapping[str, Any]) -> object:
    if args.get("resume"):
        engine.resume(args["item"])
    return None


OPS: dict[str, Callable[[Engine, Mapping[str, Any]], object]] = {
    "submit": _submit,
    "update": _update,
    "cancel": _cancel,
    "accept": lambda e, a: e.accept(a["offer"], agent=a["agent"]),
    "decline": lambda e, a: e.decline(a["offer"], agent=a["agent"], reason=a.get("reason")),
    "pick": lambda e, a: e.pick(a["item"], agent=a["agent"]),
    "complete": lambda e, a: e.complete(a["item"], wrap_up=a.get("wrap_up", True)),
    "wrap_up": lambda e, a: e.wrap_up(a["item"]),
    "close": lambda e, a: e.close(a["item"]),
    "park": lambda e, a: e.park(a["item"]),
    "resume": lambda e, a: e.resume(a["item"]),
    "transfer": lambda e, a: e.transfer(
        a["item"], queue=a.get("queue"), agent=a.get("agent"), by=a.get("by")
    ),
    "assign": lambda e, a: e.force_assign(a["item"], agent=a["agent"], by=a.get("by")),
    "presence": _presence,
    "disconnect": lambda e, a: e.disconnect(a["agent"]),
    "reconnect": lambda e, a: e.reconnect(a["agent"]),
    "apply_config": _apply,
    "advance": lambda e, a: e.advance(),
    "message": _message,
    # Channel bookkeeping (a follower's durable cursor, a dead letter): the engine reads none of it.
    "channel": lambda e, a: None,
}


def run(engine: Engine, op: str, args: Mapping[str, Any]) -> object:
    """Run one logged command on ``engine`` (the live one or a replaying one)."""
    return OPS[op](engine, args)
