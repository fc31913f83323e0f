"""Read a configuration file or folder and validate it as a whole (SPEC §5, R41).

A folder's ``*.yaml``/``*.yml`` files are read in name order and merged top-level key by key:
``queues`` of one file and ``queues`` of another are joined, and a name defined in two files is an
issue naming both files. Mapping keys are read as the text written (``1001:`` is the agent id
``"1001"``, ``on:`` is not a boolean), and a key written twice in one mapping is an issue too.

Every problem becomes a :class:`ConfigIssue` with a field path and one sentence, and they are
raised together in one :class:`ConfigError`: nothing is returned unless the whole is valid.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic_core import ErrorDetails

import unirouter.config.validate as checks
from unirouter import wellformed
from unirouter.config import bounded, model
from unirouter.errors import ConfigError, ConfigIssue

__all__ = ["describe", "duplicate_keys", "load", "validate", "yaml_issue"]

Loc = tuple[str | int, ...]
_SUFFIXES = (".yaml", ".yml")


def load(path: str | os.PathLike[str]) -> model.Config:
    """The validated configuration in a YAML file or a folder of YAML files; ConfigError if not."""
    files = _files(Path(path))
    documents, issues = _read_all(files)
    data, origins, merge_issues = _merge(documents)
    issues += merge_issues
    try:
        config = validate(data)
    except ConfigError as error:
        issues += error.issues
    if issues:
        raise ConfigError(_with_origins(issues, origins) if len(files) > 1 else issues)
    return config


def validate(data: object, *, check_values: bool = True) -> model.Config:
    """``data`` (as read from YAML) as a Config, after the schema and every cross check (R41).

    Text that is not valid Unicode (YAML's ``"\\ud800"``) and non-finite numbers (``.nan``,
    ``.inf``) are refused first, naming the field: no reader could send them back (issue 17).
    A replay passes ``check_values=False``: a log an older build wrote must still restart."""
    flaw = wellformed.first_flaw(data, max_depth=None) if check_values else None
    if flaw is not None:
        raise ConfigError([ConfigIssue(path=checks.field_path(flaw.path), message=flaw.message)])
    try:
        config = model.Config.model_validate(data)
    except pydantic.ValidationError as error:
        raise ConfigError(_schema_issues(error, data)) from None
    issues = checks.check_config(config)
    if issues:
        raise ConfigError(issues)
    return config


# --- files -------------------------------------------------------------------------------------


def _files(source: Path) -> list[Path]:
    """The file itself, or a folder's YAML files in name order (hidden files skipped)."""
    if source.is_dir():
        files = [p for p in source.iterdir() if _is_yaml(p)]
        if not files:
            raise ConfigError(
                [ConfigIssue(path=str(source), message="the folder holds no YAML file")]
            )
        return sorted(files, key=lambda p: p.name)
    if not source.exists():
        raise ConfigError([ConfigIssue(path=str(source), message="no such file or folder")])
    return [source]


def _is_yaml(path: Path) -> bool:
    """A visible ``*.yaml`` or ``*.yml`` file."""
    return path.suffix in _SUFFIXES and not path.name.startswith(".") and path.is_file()


def _read_all(files: Sequence[Path]) -> tuple[list[tuple[Path, dict[str, Any]]], list[ConfigIssue]]:
    """Each file's top-level mapping and its repeated keys; ConfigError if a file is unreadable."""
    documents: list[tuple[Path, dict[str, Any]]] = []
    repeats: list[ConfigIssue] = []
    unreadable: list[ConfigIssue] = []
    for file in files:
        try:
            node, data = _read(file)
        except ConfigError as error:
            unreadable += error.issues
            continue
        documents.append((file, data))
        repeats += duplicate_keys(file, node, ()) if node is not None else []
    if unreadable:
        raise ConfigError(unreadable)
    return documents, repeats


def _read(file: Path) -> tuple[yaml.Node | None, dict[str, Any]]:
    """One file's node tree and top-level mapping (an empty file is an empty mapping)."""
    try:
        bounded.check_bytes(file.stat().st_size, str(file))
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            [ConfigIssue(path=str(file), message=f"cannot be read: {error}")]
        ) from None
    try:
        node, data = bounded.parse_yaml(text, str(file))
    except yaml.YAMLError as error:
        raise ConfigError([yaml_issue(file, error)]) from None
    if data is not None and not isinstance(data, dict):
        message = "the file must hold a mapping of sections (workstreams, queues, agents, …)"
        raise ConfigError([ConfigIssue(path=str(file), message=message)])
    return node, data or {}


def yaml_issue(file: Path, error: yaml.YAMLError) -> ConfigIssue:
    """A YAML syntax error at its file and line."""
    mark = getattr(error, "problem_mark", None)
    context = getattr(error, "context", None)
    problem = getattr(error, "problem", None) or str(error)
    sentence = f"{context}, {problem}" if context else problem
    if mark is None:
        return ConfigIssue(path=str(file), message=f"invalid YAML: {sentence}")
    where = f"{file}:{mark.line + 1}"
    return ConfigIssue(path=where, message=f"invalid YAML at column {mark.column + 1}: {sentence}")


def duplicate_keys(
    file: Path, node: yaml.Node, loc: Loc, seen: set[int] | None = None
) -> Iterator[ConfigIssue]:
    """Keys written twice in any mapping under ``node``; an aliased node is walked once."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            yield from duplicate_keys(file, child, (*loc, index), seen)
    if isinstance(node, yaml.MappingNode):
        yield from _repeated_in_mapping(file, node, loc)
        for key_node, value_node in node.value:
            yield from duplicate_keys(file, value_node, (*loc, str(key_node.value)), seen)


def _repeated_in_mapping(file: Path, node: yaml.MappingNode, loc: Loc) -> Iterator[ConfigIssue]:
    """Keys written twice in this one mapping, with both lines."""
    lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in lines:
            message = f"{key!r} is written twice in {file} (lines {lines[key]} and {line})"
            yield ConfigIssue(path=checks.field_path((*loc, key)), message=message)
        lines.setdefault(key, line)


# --- merging a folder --------------------------------------------------------------------------


def _merge(
    documents: Sequence[tuple[Path, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[Loc, Path], list[ConfigIssue]]:
    """Top-level sections joined name by name; where each name came from; names defined twice."""
    merged: dict[str, Any] = {}
    origins: dict[Loc, Path] = {}
    issues: list[ConfigIssue] = []
    for file, data in documents:
        for section, value in data.items():
            issues += _merge_section(merged, origins, file, section, value)
    return merged, origins, issues


def _merge_section(
    merged: dict[str, Any], origins: dict[Loc, Path], file: Path, section: str, value: object
) -> Iterator[ConfigIssue]:
    """Add one file's section: a new section, new names of a mapping, or the same value again."""
    current = merged.get(section)
    if section not in merged:
        merged[section] = dict(value) if isinstance(value, dict) else value
        origins[(section,)] = file
        origins.update(
            {(section, name): file for name in (value if isinstance(value, dict) else ())}
        )
    elif isinstance(current, dict) and isinstance(value, dict):
        yield from _merge_names(current, origins, file, section, value)
    elif current != value:
        first = origins[(section,)]
        yield ConfigIssue(path=section, message=f"is given differently in {first} and {file}")


def _merge_names(
    current: dict[str, Any],
    origins: dict[Loc, Path],
    file: Path,
    section: str,
    value: dict[str, Any],
) -> Iterator[ConfigIssue]:
    """Add a section's names; a name already defined by an earlier file is an issue (R41)."""
    for name, entry in value.items():
        if name in current:
            first = origins.get((section, name), origins[(section,)])
            path = checks.field_path((section, name))
            yield ConfigIssue(path=path, message=f"is defined in both {first} and {file}")
        else:
            current[name] = entry
            origins[(section, name)] = file


def _with_origins(issues: Sequence[ConfigIssue], origins: dict[Loc, Path]) -> list[ConfigIssue]:
    """Issues of a merged folder, each telling the file its section or name came from."""
    prefixes = sorted(
        ((checks.field_path(loc), file) for loc, file in origins.items()), reverse=True
    )
    return [_with_origin(issue, prefixes) for issue in issues]


def _with_origin(issue: ConfigIssue, prefixes: Sequence[tuple[str, Path]]) -> ConfigIssue:
    """``issue`` with ``(in FILE)`` added when its path lies under a known name."""
    for prefix, file in prefixes:
        if issue.path == prefix or issue.path.startswith((f"{prefix}.", f"{prefix}[")):
            return ConfigIssue(path=issue.path, message=f"{issue.message} (in {file.name})")
    return issue


# --- schema errors -----------------------------------------------------------------------------


def _schema_issues(error: pydantic.ValidationError, data: object) -> list[ConfigIssue]:
    """Pydantic's errors as issues with field paths and sentences, without repeats."""
    issues: list[ConfigIssue] = []
    for detail in error.errors(include_url=False):
        issue = ConfigIssue(
            path=checks.field_path(_loc(detail["loc"], data)), message=_sentence(detail)
        )
        if issue not in issues:
            issues.append(issue)
    return issues


def _loc(loc: Sequence[str | int], data: object) -> Loc:
    """Pydantic's location with dictionary keys as keys and list positions as indices."""
    parts: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, list) and isinstance(part, int):
            parts.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return tuple(parts)


_SHOULD = re.compile(r"^\w+ should ")
_DETAIL = re.compile(r", (unable to|input is|got) .*$")


def _sentence(detail: ErrorDetails) -> str:
    """One readable sentence for a pydantic error."""
    kind = detail["type"]
    if kind == "missing":
        return "this required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(detail["loc"])
    if kind in ("value_error", "assertion_error"):
        return str(detail.get("ctx", {}).get("error", detail["msg"]))
    message = _DETAIL.sub("", _SHOULD.sub("must ", detail["msg"]))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "must be a mapping"
    subject = "the configuration " if not detail["loc"] else ""
    return f"{subject}{message}, not {describe(detail['input'])}"


def describe(value: object) -> str:
    """A short description of a wrong input, for "must be X, not Y" sentences."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _unknown_field(loc: Sequence[str | int]) -> str:
    """``unknown field 'x'`` with the closest allowed field, or the allowed ones."""
    name = str(loc[-1])
    allowed = _allowed_fields(loc[:-1])
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?"
    if allowed:
        return f"unknown field {name!r}; allowed fields: {', '.join(allowed)}"
    return f"unknown field {name!r}"


def _allowed_fields(loc: Sequence[str | int]) -> list[str]:
    """The field names of the model found at ``loc`` (empty if it is not a model)."""
    annotation: object = model.Config
    for part in loc:
        annotation = _child(annotation, part)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return list(annotation.model_fields)
    return []


def _child(annotation: object, part: str | int) -> object:
    """The type one step down ``annotation``: a model's field, a dict's value, a list's item."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        field = annotation.model_fields.get(str(part))
        return _unwrap(field.annotation) if field is not None else None
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict:
        return _unwrap(args[1])
    if typing.get_origin(annotation) is list:
        return _unwrap(args[0])
    return None


def _unwrap(annotation: object) -> object:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _unwrap(args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [arg for arg in args if arg is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else annotation
    return annotation
