"""The exception tree of unirouter.

Every error the package raises on purpose derives from :class:`UnirouterError`.
Errors carry structured fields (ids, states) so shells never parse messages::

    UnirouterError
    ├── ConfigError                 invalid configuration (R41); ``issues`` lists every problem
    │   └── ConfigTooComplex        text over a size, depth or alias-expansion bound (issue 17)
    ├── ExpressionError             an expression that does not compile (SPEC §4)
    └── CommandError                a command the engine refuses; nothing changed
        ├── NotFound                unknown item, agent, offer, queue or workstream
        ├── Conflict                a state transition the current state does not allow
        │   ├── OfferNotOpen        accept/decline of an offer that expired, ended or is someone else's (R24)
        │   └── AlreadyClaimed      a pick of an item another agent claimed first (R28)
        ├── NotEligible             the agent may not take this item (skills, capacity, membership)
        └── InvalidCommand          a command whose arguments are wrong (kind mismatch, bad value)

The storage port adds its own branch, ``StorageError``, in :mod:`unirouter.storage.port`.

Outside the tree, :class:`IllegalTransition` (a ``RuntimeError``) is an engine bug, never raised on
purpose: an item state change ``engine.state.ITEM_TRANSITIONS`` does not allow. It is defined here,
re-exported by :mod:`unirouter.engine.state`, because this module stays interpreted in the compiled
build (``make fast``) and mypyc compiles no class that inherits a built-in exception.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AlreadyClaimed",
    "CommandError",
    "ConfigError",
    "ConfigIssue",
    "ConfigTooComplex",
    "Conflict",
    "ExpressionError",
    "IllegalTransition",
    "InvalidCommand",
    "NotEligible",
    "NotFound",
    "OfferNotOpen",
    "UnirouterError",
]


class UnirouterError(Exception):
    """Root of every error unirouter raises on purpose."""


class IllegalTransition(RuntimeError):
    """An engine bug: a state change ``ITEM_TRANSITIONS`` does not allow (never a caller's error)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigIssue:
    """One problem of a configuration: the path of the field and a sentence."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(UnirouterError):
    """A configuration that is not valid as a whole (R41). Nothing of it was applied."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class ConfigTooComplex(ConfigError):
    """Configuration text over a bound of :mod:`unirouter.config.bounded`: too many bytes, too
    deep, or expanding to too many nodes; ``limit_name`` and ``limit`` say which."""

    def __init__(
        self, issues: list[ConfigIssue], *, limit_name: str, limit: int, line: int | None = None
    ) -> None:
        super().__init__(issues)
        self.limit_name = limit_name
        self.limit = limit
        self.line = line


class ExpressionError(UnirouterError):
    """An expression that does not compile; ``offset`` is the 0-based column in ``source``."""

    def __init__(self, source: str, offset: int, message: str) -> None:
        self.source = source
        self.offset = offset
        self.message = message
        super().__init__(f"{message} (at column {offset + 1} of {source!r})")


class CommandError(UnirouterError):
    """A command the engine refused. The engine state is unchanged."""

    code = "invalid_command"

    def __init__(self, message: str, **fields: object) -> None:
        self.message = message
        self.fields = fields
        super().__init__(message)


class NotFound(CommandError):
    """The command names an item, agent, offer, queue or workstream that does not exist."""

    code = "not_found"


class Conflict(CommandError):
    """The current state does not allow this transition."""

    code = "conflict"


class OfferNotOpen(Conflict):
    """The offer expired, was already answered or withdrawn, or belongs to another agent (R24)."""

    code = "offer_not_open"


class AlreadyClaimed(Conflict):
    """Another agent claimed the item first (R28)."""

    code = "already_claimed"


class NotEligible(CommandError):
    """The agent may not take this item (membership, skills, capacity)."""

    code = "not_eligible"


class InvalidCommand(CommandError):
    """The command's arguments are wrong."""

    code = "invalid_command"
