"""Engine snapshots: the engine's state as bytes, and an engine rebuilt from them (SPEC §9).

A restart is the latest snapshot plus a replay of the log after it, so a snapshot must hold
everything that shapes what the engine does next: items, agents, offers, queue indexes (lazy
heaps, agent pools per skill signature and the requirement indexes they feed, round-robin positions), the timer heap, split counters,
penalties, affinity, traces, and the counters behind event ``seq``, item and offer ids.

What it leaves out is what the engine makes from its configuration alone
(:class:`~unirouter.engine.plans.Compiled`: compiled expressions, calendars): a restore compiles
the configuration again, and refuses one whose canonical form hashes differently.

Layout of the bytes::

    MAGIC                   b"UNIROUTER-SNAPSHOT\\n"
    header                  one line of JSON: format, unirouter version, state layout, engine
                            time, configuration version and hash, the body's SHA-256
    body                    a pickle of the engine state's slots (:class:`~unirouter.engine.core.Core`)

The body is read by a restricted unpickler: it resolves only the classes in :data:`ALLOWED`
(the engine's own records, enums, ``collections.deque``) and this module's reconstructors, so
loading runs no other code, whatever the bytes hold. Pickle rather than a hand-written encoding
because it keeps the sharing the engine relies on (an item's ``slot`` is the very heap its queue
holds; a pool key is the very signature an agent points to) and covers a new attribute without a
new encoder; the layout fingerprint in the header turns any change of those records into a clean
refusal instead of a half-restored engine.

Errors (all refuse the snapshot and change nothing; a server then replays the whole log)::

    UnirouterError
    └── SnapshotError                 the bytes cannot become an engine
        ├── SnapshotCorrupt           not a snapshot, damaged, or naming a class not allowed (``reason``)
        ├── SnapshotIncompatible      another format, unirouter version or state layout
        │                             (``field``, ``found``, ``expected``)
        └── SnapshotConfigMismatch    the configuration is not the one the snapshot was taken under
                                      (``expected``, ``found``: SHA-256 of the canonical form)
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import io
import json
import pickle
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum
from types import FunctionType
from typing import TYPE_CHECKING, Any

import pydantic

import unirouter
from unirouter import calendars, errors, expressions
from unirouter.config import model
from unirouter.engine import dispatch, events, matching, plans, queues, state, timers
from unirouter.engine.clock import Clock
from unirouter.engine.core import REBUILT, Core

if TYPE_CHECKING:
    from unirouter.engine.engine import Engine

__all__ = [
    "ALLOWED",
    "FORMAT",
    "MAGIC",
    "SnapshotConfigMismatch",
    "SnapshotCorrupt",
    "SnapshotError",
    "SnapshotHeader",
    "SnapshotIncompatible",
    "config_hash",
    "read_header",
    "restore",
    "snapshot",
]

MAGIC = b"UNIROUTER-SNAPSHOT\n"
#: Bump when the body's encoding changes; a snapshot of another format is refused (2: the body
#: holds the :class:`~unirouter.engine.core.Core` slots, issue 14).
FORMAT = 2
_PROTOCOL = 5


def _attribute_names(cls: type) -> tuple[str, ...]:
    """A record class's attributes: its and its bases' ``__slots__``, or, for a class compiled by
    mypyc (``make fast``), which has neither slots nor ``__dict__``, its ``__mypyc_attrs__``."""
    native = cls.__dict__.get("__mypyc_attrs__")
    if native is not None:
        return tuple(name for name in native if not name.startswith("__"))
    names: list[str] = []
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return tuple(names)


def _attributes(obj: object) -> dict[str, Any]:
    """An object's attributes by name (``vars()``, or its compiled class's attributes that are set)."""
    names = _attribute_names(type(obj))
    if not names:
        return dict(vars(obj))
    return {name: getattr(obj, name) for name in names if hasattr(obj, name)}


#: The engine state's slots a snapshot saves (the others are rebuilt from the configuration).
_SAVED = tuple(name for name in _attribute_names(Core) if name not in REBUILT)
_DISPATCH_REBUILT = frozenset({"workstreams", "custom", "scope"})

#: The only classes a snapshot may name: the engine's records and enums (and an assignment
#: decision, kept in an item's trace records), and deque.
ALLOWED: tuple[type, ...] = (
    collections.deque,
    state.WorkItem,
    state.AgentState,
    state.Offer,
    state.ItemState,
    state.CloseReason,
    state.OfferStatus,
    queues.QueueRuntime,
    queues.LazyHeap,
    queues.Pool,
    queues.ReqIndex,
    timers.Timers,
    timers.TimerKind,
    matching.Signature,
    matching.SignatureTable,
    dispatch.Decision,  # an R43 trace record's decision, rendered when read (issue 10)
    events.Event,
    events.EventType,
    plans._Desc,
    *sorted(
        (v for v in vars(model).values() if isinstance(v, type) and issubclass(v, Enum)),
        key=lambda cls: cls.__name__,
    ),
)
_ALLOWED_NAMES = {(cls.__module__, cls.__qualname__): cls for cls in ALLOWED}


class SnapshotError(errors.UnirouterError):
    """These bytes cannot become an engine; nothing was changed."""


class SnapshotCorrupt(SnapshotError):
    """Not a snapshot, damaged, or naming something a snapshot may not name."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not a usable snapshot: {reason}")


class SnapshotIncompatible(SnapshotError):
    """Written in another format, by another unirouter version, or for another state layout."""

    def __init__(self, field: str, found: object, expected: object) -> None:
        self.field = field
        self.found = found
        self.expected = expected
        super().__init__(f"snapshot {field} is {found!r}, this build reads {expected!r}")


class SnapshotConfigMismatch(SnapshotError):
    """The configuration given is not the one the snapshot was taken under."""

    def __init__(self, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(
            f"the snapshot was taken under configuration {expected[:12]}…, not {found[:12]}…"
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotHeader:
    """What a snapshot says about itself, readable without loading it."""

    format: int
    unirouter: str
    layout: str
    now: float
    seq: int
    config_version: int
    config_sha256: str
    retain_closed: int | None
    body_sha256: str


# -- the configuration's fingerprint ------------------------------------------------------------------

_hash_cache: tuple[model.Config, str] | None = None


def config_hash(config: model.Config) -> str:
    """SHA-256 of the configuration's canonical form: its JSON as the server logs it, keys in
    their order (the order of queues, agents and workstreams is routing order)."""
    global _hash_cache
    if _hash_cache is not None and _hash_cache[0] is config:
        return _hash_cache[1]
    data = config.model_dump(mode="json", warnings=False)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate an older build logged in a configuration still hashes (the
    # bytes of valid text are the same either way).
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    _hash_cache = (config, digest)
    return digest


def _layout() -> str:
    """A fingerprint of the records a snapshot holds: any added, removed or renamed slot or enum
    member changes it, so a snapshot from before such a change is refused, not half-restored."""
    parts = []
    for cls in ALLOWED:
        names = list(_attribute_names(cls))
        if "__mypyc_attrs__" in cls.__dict__:
            # A compiled class pickles its attributes another way than a slotted one: a snapshot
            # of the other build is refused (the server replays), never half-restored.
            names.insert(0, "(compiled)")
        if issubclass(cls, Enum):
            names = [f"{m.name}={m.value}" for m in cls]
        elif hasattr(cls, "_fields"):
            names = list(cls._fields)
        parts.append(f"{cls.__module__}.{cls.__qualname__}:{','.join(names)}")
    parts.append(f"{Core.__module__}.{Core.__qualname__}:{','.join(sorted(_SAVED))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


LAYOUT = _layout()


# -- taking a snapshot --------------------------------------------------------------------------------


def snapshot(engine: Engine) -> bytes:
    """The engine's state as bytes. Take it between commands (the server does, under its loop)."""
    core = engine._core
    body = _dump(core)
    header = {
        "format": FORMAT,
        "unirouter": unirouter.__version__,
        "layout": LAYOUT,
        "now": core.now,
        "seq": core.seq,
        "config_version": core.version,
        "config_sha256": config_hash(core.config),
        "retain_closed": core.retain_closed,
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    return MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + body


def _dump(core: Core) -> bytes:
    saved = {name: getattr(core, name) for name in _SAVED}
    routing = {k: v for k, v in _attributes(core.dispatch).items() if k not in _DISPATCH_REBUILT}
    splits = {
        name: [
            None if r.split is None else (dict(r.split.counts), r.split.total) for r in ws.routes
        ]
        for name, ws in core.workstreams.items()
    }
    refs: dict[int, tuple[str, str]] = {}
    for name, queue_cfg in core.config.queues.items():
        refs[id(queue_cfg)] = ("queue", name)
    for name, calendar in core.calendars.items():
        refs[id(calendar)] = ("calendar", name)
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, refs)
    try:
        pickler.dump({"core": saved, "dispatch": routing, "splits": splits})
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise SnapshotError(f"the engine holds something a snapshot cannot keep: {exc}") from exc
    return buffer.getvalue()


# Reconstructors named in the body. On load the unpickler maps these names to its own versions
# (which resolve configuration references against the configuration being restored).


def _ref(kind: str, name: str) -> object:
    raise SnapshotError(f"a configuration reference ({kind} {name}) outside a restore")


def _requirement(
    skills: tuple[tuple[str, int, bool], ...], units: int, profiles: tuple[str, ...]
) -> matching.Requirement:
    """The interned requirement (identity is equality for requirements)."""
    reqs = [model.SkillReq(name=n, level=lv, optional=o) for n, lv, o in skills]
    return matching.Requirement.of(reqs, units, profiles)


def _skill(name: str, level: int, optional: bool) -> model.SkillReq:
    return model.SkillReq(name=name, level=level, optional=optional)


def _step(after_s: float, skills: tuple[tuple[str, int, bool], ...]) -> model.RelaxStep:
    reqs = [model.SkillReq(name=n, level=lv, optional=o) for n, lv, o in skills]
    return model.RelaxStep(skills=reqs, after_s=after_s)


def _datetime(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _scope() -> expressions.Scope:
    return expressions.Scope()


_RECONSTRUCTORS: dict[str, Callable[..., object]] = {
    f.__name__: f for f in (_ref, _requirement, _skill, _step, _datetime, _scope)
}

#: Kinds the pickler must never write by value: they come from the configuration.
_FORBIDDEN = (
    pydantic.BaseModel,
    calendars.Calendar,
    expressions.Expression,
    plans.WorkstreamPlan,
    plans.PriorityPlan,
    plans.CustomRulePlan,
    plans.Split,
    dispatch.Dispatcher,
    Core,
)


class _Pickler(pickle.Pickler):
    """Writes configuration objects as references and value objects through reconstructors."""

    def __init__(self, file: io.BytesIO, refs: dict[int, tuple[str, str]]) -> None:
        super().__init__(file, protocol=_PROTOCOL)
        self._refs = refs
        self._plain: set[type] = set()

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in self._plain:
            return NotImplemented
        token = self._refs.get(id(obj))
        if token is not None:
            return _ref, token
        if kind is matching.Requirement:
            return _requirement, (obj.skills, obj.units, obj.profiles)
        if kind is model.SkillReq:
            return _skill, (obj.name, obj.level, obj.optional)
        if kind is model.RelaxStep:
            return _step, (obj.after_s, tuple((s.name, s.level, s.optional) for s in obj.skills))
        if kind is expressions.Scope:
            return _scope, ()
        if kind is datetime:
            return self._datetime(obj)
        if kind is FunctionType and _RECONSTRUCTORS.get(obj.__name__) is obj:
            return NotImplemented  # the reconstructors above, written by name
        if issubclass(kind, _FORBIDDEN) or (callable(obj) and not isinstance(obj, type)):
            raise SnapshotError(f"a snapshot cannot hold a {kind.__qualname__}")
        self._plain.add(kind)
        return NotImplemented

    @staticmethod
    def _datetime(value: datetime) -> Any:
        if value.tzinfo is not None and not isinstance(value.tzinfo, timezone):
            raise SnapshotError("a snapshot keeps only datetimes with a fixed UTC offset")
        return _datetime, (value.isoformat(),)


# -- restoring ------------------------------------------------------------------------------------------


def read_header(data: bytes) -> SnapshotHeader:
    """The header of ``data``; raises :class:`SnapshotCorrupt` or :class:`SnapshotIncompatible`."""
    header, _ = _split(data)
    return header


def _split(data: bytes) -> tuple[SnapshotHeader, bytes]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SnapshotCorrupt("a snapshot is bytes")
    data = bytes(data)
    if not data.startswith(MAGIC):
        raise SnapshotCorrupt("it does not start with the snapshot magic")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise SnapshotCorrupt("the header line is not terminated")
    try:
        raw = json.loads(data[len(MAGIC) : end])
    except ValueError as exc:
        raise SnapshotCorrupt(f"the header is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise SnapshotCorrupt("the header is not a JSON object")
    if raw.get("format") != FORMAT:
        raise SnapshotIncompatible("format", raw.get("format"), FORMAT)
    try:
        header = SnapshotHeader(**raw)
    except TypeError as exc:
        raise SnapshotCorrupt(f"the header has other fields ({exc})") from None
    if header.unirouter != unirouter.__version__:
        raise SnapshotIncompatible("unirouter version", header.unirouter, unirouter.__version__)
    if header.layout != LAYOUT:
        raise SnapshotIncompatible("state layout", header.layout, LAYOUT)
    body = data[end + 1 :]
    if hashlib.sha256(body).hexdigest() != header.body_sha256:
        raise SnapshotCorrupt("the body does not match its checksum")
    return header, body


def restore(cls: type[Engine], data: bytes, *, config: model.Config, clock: Clock) -> Engine:
    """An engine of class ``cls`` in the state ``data`` holds, running ``config`` (the one the
    snapshot was taken under) on ``clock``. Nothing is emitted: the restored engine continues
    exactly where the snapshotted one stood, event ``seq`` and ids included."""
    header, body = _split(data)
    found = config_hash(config)
    if found != header.config_sha256:
        raise SnapshotConfigMismatch(header.config_sha256, found)
    compiled = plans.compile_config(config)
    loaded = _Unpickler(body, config, compiled).load_state()
    saved: dict[str, Any] = loaded["core"]
    if set(saved) != set(_SAVED):
        raise SnapshotIncompatible("engine attributes", sorted(saved), sorted(_SAVED))
    core = Core(
        clock=clock,
        epoch=saved["epoch"],
        trace=saved["tracing"],
        retain_closed=saved["retain_closed"],
    )
    for name, value in saved.items():
        setattr(core, name, value)
    core.config = config
    core.calendars, core.workstreams = compiled.calendars, compiled.workstreams
    core.priority_plans = compiled.priority
    _restore_dispatch(core, loaded["dispatch"], compiled)
    _restore_splits(compiled, loaded["splits"])
    engine = cls.__new__(cls)
    engine._core = core
    return engine


def _restore_dispatch(core: Core, saved: dict[str, Any], compiled: plans.Compiled) -> None:
    routing = core.dispatch
    missing = set(_attributes(routing)) - _DISPATCH_REBUILT - set(saved)
    if missing:
        raise SnapshotIncompatible("dispatcher attributes", sorted(saved), sorted(missing))
    for name, value in saved.items():
        setattr(routing, name, value)
    routing.workstreams, routing.custom = compiled.workstreams, compiled.custom


def _restore_splits(compiled: plans.Compiled, saved: dict[str, list[Any]]) -> None:
    """R4: a split continues its exact sequence where the snapshot left it."""
    for name, ws in compiled.workstreams.items():
        counters = saved.get(name, [])
        for route, counter in zip(ws.routes, counters, strict=False):
            if route.split is None or counter is None:
                continue
            counts, total = counter
            if set(counts) != set(route.split.counts):
                raise SnapshotCorrupt(f"split counters of workstream {name} name other queues")
            route.split.counts.update(counts)
            route.split.total = total


class _Unpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED` classes and this module's reconstructors (no other code runs)."""

    def __init__(self, body: bytes, config: model.Config, compiled: plans.Compiled) -> None:
        super().__init__(io.BytesIO(body))
        self._targets: dict[tuple[str, str], object] = {
            ("queue", n): q for n, q in config.queues.items()
        }
        self._targets.update({("calendar", n): c for n, c in compiled.calendars.items()})
        self._requirements: dict[tuple[Any, ...], matching.Requirement] = {}
        self._own: dict[str, Callable[..., object]] = {
            **_RECONSTRUCTORS,
            "_ref": self._ref,
            "_requirement": self._requirement,
        }

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name in self._own:
            return self._own[name]
        found = _ALLOWED_NAMES.get((module, name))
        if found is None:
            raise SnapshotCorrupt(f"it names {module}.{name}, which a snapshot may not")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise SnapshotCorrupt("it holds a persistent reference")

    def load_state(self) -> dict[str, Any]:
        try:
            loaded = self.load()
        except SnapshotError:
            raise
        except Exception as exc:  # any damage of the body: truncated, wrong opcodes, wrong shapes
            raise SnapshotCorrupt(f"the body does not load ({type(exc).__name__}: {exc})") from None
        if not isinstance(loaded, dict) or set(loaded) != {"core", "dispatch", "splits"}:
            raise SnapshotCorrupt("the body is not an engine state")
        return loaded

    def _ref(self, kind: str, name: str) -> object:
        target = self._targets.get((kind, name))
        if target is None:
            raise SnapshotCorrupt(f"it refers to {kind} {name!r}, which the configuration lacks")
        return target

    def _requirement(
        self, skills: tuple[tuple[str, int, bool], ...], units: int, profiles: tuple[str, ...]
    ) -> matching.Requirement:
        key = (skills, units, profiles)
        found = self._requirements.get(key)
        if found is None:
            found = self._requirements[key] = _requirement(skills, units, profiles)
        return found
