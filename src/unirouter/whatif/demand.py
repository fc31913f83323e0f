"""Reading a capture file and turning it into the traffic a replay sends (docs/replay.md).

**Bad input.** A file of another format or version, a line that is not JSON, or a line missing a
field or holding one of the wrong type is a :class:`CaptureError` naming the line and the field.
Items of a workstream the candidate configuration does not have cannot be submitted: they are
skipped, counted per workstream and reported (``skipped`` in the output), never dropped silently.

**The handle-time model.** An item taken by the agent who took it in the record keeps its
recorded handle time. Taken by another agent, its handle time is drawn from that agent's recorded
handle times on the same workstream (the agent's own speed), else from all of that agent's handle
times, else from every handle time recorded on the workstream, else it keeps its own. An item
nobody took in the record is drawn the same way. With ``resample`` (the replications of
``unirouter compare``), every handle time is drawn so, the recorded agent's too (a bootstrap of
each agent's empirical distribution). Wrap-up: the recorded one, or drawn from the workstream's.

**Patience.** An item abandoned in the record abandons at its recorded patience (from arrival).
One answered (or otherwise ended) in the record only says its customer would have waited at
least as long as they did: its patience is drawn from the workstream's Kaplan–Meier estimate of
patience conditioned on exceeding that wait, so it is never shorter than the recorded wait (a
replay of the recorded configuration does not make it abandon), and it is infinite when the
estimate never falls to zero (customers that were never seen to give up do not give up).
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from unirouter import errors
from unirouter.config import model
from unirouter.engine import commands
from unirouter.sim import traffic
from unirouter.whatif import capture

__all__ = ["CaptureError", "CaptureFile", "Recorded", "json_lines", "read", "usable"]

FORMAT, VERSION = capture.FORMAT, capture.VERSION

_ITEM_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # name: (types, may be null)
    "t": ((int, float), False),
    "id": (str, False),
    "workstream": (str, False),
    "channel": (str, True),
    "priority": (int, True),
    "attributes": (dict, False),
    "customer": (dict, False),
    "skills": (list, False),
    "agent": (str, True),
    "handle_s": ((int, float), True),
    "wrap_up_s": ((int, float), False),
    "patience_s": ((int, float), True),
    "wait_s": ((int, float), True),
    "response_s": ((int, float), True),
    "outcome": (str, False),
}
_AGENT_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "t": ((int, float), False),
    "agent": (str, False),
}


class CaptureError(errors.UnirouterError):
    """A capture file that cannot be read: ``line`` (1-based) and ``field`` say where."""

    def __init__(self, path: str, line: int, field: str | None, message: str) -> None:
        self.path, self.line, self.field, self.message = path, line, field, message
        where = f"{path}:{line}" + ("" if field is None else f": {field}")
        super().__init__(f"{where}: {message}")


#: A read capture file (the same shape :mod:`unirouter.whatif.capture` writes).
CaptureFile = capture.Capture


def read(path: Path) -> CaptureFile:
    """Read and check a capture file (see :class:`CaptureError` for what is refused)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(name, 0, None, f"cannot be read: {exc}") from None
    rows = json_lines(name, text.splitlines())
    first = next(rows, None)
    if first is None:
        raise CaptureError(name, 1, None, "the file is empty; expected a capture header")
    capture = CaptureFile(header=_header(name, *first))
    for number, line in rows:
        _add(capture, name, number, line)
    return capture


def json_lines(name: str, lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line of ``lines`` as (line number, JSON object), or a :class:`CaptureError`."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise CaptureError(name, number, None, f"not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise CaptureError(name, number, None, "a line must be a JSON object")
        yield number, value


def _header(name: str, number: int, line: dict[str, Any]) -> dict[str, Any]:
    if line.get("format") != FORMAT:
        raise CaptureError(name, number, "format", f"not a capture file (expected {FORMAT!r})")
    if line.get("version") != VERSION:
        raise CaptureError(name, number, "version", f"version {line.get('version')!r}; this "
                           f"unirouter reads version {VERSION} (capture the day again)")  # fmt: skip
    for key in ("from", "to", "duration_s"):
        if not isinstance(line.get(key), int | float):
            raise CaptureError(name, number, key, "must be a number")
    if not isinstance(line.get("agents", {}), dict):
        raise CaptureError(name, number, "agents", "must be an object")
    return line


def _add(capture: CaptureFile, name: str, number: int, line: dict[str, Any]) -> None:
    kind = line.get("kind")
    if kind == "item":
        capture.items.append(_checked(name, number, line, _ITEM_FIELDS))
    elif kind == "agent":
        capture.timeline.append(_checked(name, number, line, _AGENT_FIELDS))
    elif kind == "recorded":
        capture.recorded = {k: v for k, v in line.items() if k != "kind"}
    else:
        raise CaptureError(name, number, "kind", f"{kind!r} is not item, agent or recorded")


def _checked(
    name: str, number: int, line: dict[str, Any], fields: Mapping[str, tuple[Any, bool]]
) -> dict[str, Any]:
    for key, (types, nullable) in fields.items():
        if key not in line:
            raise CaptureError(name, number, key, "is missing")
        value = line[key]
        if value is None and nullable:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            raise CaptureError(name, number, key, f"has the wrong type ({type(value).__name__})")
    return line


# -- the traffic of a replay ---------------------------------------------------------------------


class _Pool:
    """Recorded durations by (agent, workstream), by agent and by workstream."""

    def __init__(self) -> None:
        self.by_both: dict[tuple[str, str], list[float]] = {}
        self.by_agent: dict[str, list[float]] = {}
        self.by_workstream: dict[str, list[float]] = {}

    def add(self, agent: str | None, workstream: str, value: float) -> None:
        self.by_workstream.setdefault(workstream, []).append(value)
        if agent is not None:
            self.by_both.setdefault((agent, workstream), []).append(value)
            self.by_agent.setdefault(agent, []).append(value)

    def draw(self, agent: str, workstream: str, rng: random.Random) -> float | None:
        for values in (self.by_both.get((agent, workstream)), self.by_agent.get(agent),
                       self.by_workstream.get(workstream)):  # fmt: skip
            if values:
                return rng.choice(values)
        return None


class _Patience:
    """The Kaplan–Meier estimate of one workstream's patience from (time, abandoned) pairs."""

    def __init__(self, observations: list[tuple[float, bool]]) -> None:
        self.times: list[float] = []
        self.survival: list[float] = []  # S(t) just after each abandon time
        at_risk, alive = len(observations), 1.0
        for time, abandoned in sorted(observations):
            if abandoned and at_risk:
                alive *= 1 - 1 / at_risk
                self.times.append(time)
                self.survival.append(alive)
            at_risk -= 1

    def draw_beyond(self, censor: float, rng: random.Random) -> float | None:
        """A patience drawn given it exceeds ``censor``; None: the customer never gives up."""
        start = bisect.bisect_right(self.times, censor)
        base = self.survival[start - 1] if start else 1.0
        if base <= 0:
            return censor
        target = base * rng.random()  # S(T) = target, T beyond censor
        for index in range(start, len(self.times)):
            if self.survival[index] <= target:
                return self.times[index]
        return None


class Recorded:
    """The items of a capture as one arrival source (:class:`~unirouter.sim.runner.Traffic`)."""

    def __init__(self, items: list[dict[str, Any]], seed: int, resample: bool) -> None:
        self._items = items
        self._handles, self._wraps = _Pool(), _Pool()
        patience: dict[str, list[tuple[float, bool]]] = {}
        for item in items:
            if item["handle_s"] is not None:
                self._handles.add(item["agent"], item["workstream"], float(item["handle_s"]))
                self._wraps.add(item["agent"], item["workstream"], float(item["wrap_up_s"]))
            observed = item["patience_s"] if item["patience_s"] is not None else item["wait_s"]
            if observed is not None:
                patience.setdefault(item["workstream"], []).append(
                    (float(observed), item["patience_s"] is not None)
                )
        self._patience = {name: _Patience(obs) for name, obs in patience.items()}
        self._rng = traffic.stream(seed, "replay")
        self._resample = resample
        self._scheduled = self._produced = 0
        self.count = 0

    @property
    def sources(self) -> range:
        return range(1)

    def next_time(self, source: int, after: float) -> float | None:
        if self._scheduled >= len(self._items):
            return None
        t = max(float(self._items[self._scheduled]["t"]), after)
        self._scheduled += 1
        return t

    def item(self, source: int) -> traffic.Generated:
        line = self._items[self._produced]
        self._produced += 1
        self.count += 1
        intake = commands.Submit(
            external_id=line["id"],
            workstream=line["workstream"],
            attributes=dict(line["attributes"]),
            customer=dict(line["customer"]),
            skills=tuple(model.SkillReq.model_validate(s) for s in line["skills"]) or None,
            priority=line["priority"],
            channel=line["channel"],
        )
        return traffic.Generated(
            intake=intake,
            handle_s=float(line["handle_s"] or 0.0),
            patience_s=self._patience_of(line),
            wrap_up_s=self._wrap_up_of(line),
            handle_for=self._handle_model(line),
        )

    def _handle_model(self, line: dict[str, Any]) -> Callable[[str], float]:
        recorded, who, workstream = line["handle_s"], line["agent"], line["workstream"]
        rng, resample, pool = self._rng, self._resample, self._handles

        def handle_for(agent: str) -> float:
            if recorded is not None and agent == who and not resample:
                return float(recorded)
            drawn = pool.draw(agent, workstream, rng)
            return float(recorded or 0.0) if drawn is None else drawn

        return handle_for

    def _patience_of(self, line: dict[str, Any]) -> float | None:
        if line["patience_s"] is not None:
            return float(line["patience_s"])
        estimate = self._patience.get(line["workstream"])
        if estimate is None:
            return None
        return estimate.draw_beyond(float(line["wait_s"] or 0.0), self._rng)

    def _wrap_up_of(self, line: dict[str, Any]) -> float:
        if line["handle_s"] is not None and not self._resample:
            return float(line["wrap_up_s"])
        drawn = self._wraps.draw(line["agent"] or "", line["workstream"], self._rng)
        return float(line["wrap_up_s"]) if drawn is None else drawn


def usable(
    capture: CaptureFile, config: model.Config
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The items the candidate configuration can take, and the skipped ones counted by
    workstream (``unknown workstream NAME``)."""
    kept: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for item in capture.items:
        if item["workstream"] in config.workstreams:
            kept.append(item)
        else:
            key = f"unknown workstream {item['workstream']}"
            skipped[key] = skipped.get(key, 0) + 1
    return kept, skipped
