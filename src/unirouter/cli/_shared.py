"""What every command module shares: the context settings and the error-to-exit-code table."""

from __future__ import annotations

from typing import Any

from unirouter import errors

__all__ = ["CONTEXT", "ENV_PREFIX", "EXIT_CODES", "count", "error_lines", "exit_code"]

#: Every option ``--some-option`` may also come from ``UNIROUTER_SOME_OPTION`` (SPEC §6.2).
ENV_PREFIX = "UNIROUTER"
#: Context settings of every command. Click would otherwise prefix nested commands' variables
#: with their names (``UNIROUTER_CONFIG_SCHEMA_OUTPUT``); SPEC §6.2 wants ``UNIROUTER_OUTPUT``.
CONTEXT: dict[str, Any] = {"auto_envvar_prefix": ENV_PREFIX, "help_option_names": ["-h", "--help"]}
#: Exit code of each error family, looked up along the error's class hierarchy (2 is click's
#: usage error).
EXIT_CODES: dict[type[errors.UnirouterError], int] = {
    errors.ConfigError: 1,
    errors.ExpressionError: 1,
    errors.CommandError: 1,
    errors.UnirouterError: 1,
}


def error_lines(error: errors.UnirouterError) -> list[str]:
    """One line per configuration issue, otherwise the error's sentence."""
    if isinstance(error, errors.ConfigError):
        return [str(issue) for issue in error.issues]
    return [str(error)]


def exit_code(error: errors.UnirouterError) -> int:
    """The exit code of the closest error family in :data:`EXIT_CODES`."""
    for family in type(error).__mro__:
        if family in EXIT_CODES:
            return EXIT_CODES[family]
    return 1


def count(number: int, noun: str) -> str:
    """``1 queue``, ``3 queues``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
