"""Random durations and arrival rates of a simulation scenario (SPEC §7).

A scenario writes handle times, patience and the busyness factor as small mappings::

    {dist: exponential, mean_s: 180}
    {dist: lognormal, mean_s: 180, sd_s: 120}       # mean and sd of the duration itself
    {dist: gamma, shape: 2, scale: 90}               # or {dist: gamma, mean_s: 180, cv: 0.7}
    {dist: constant, value_s: 180}
    {dist: empirical, values: [120, 150, 300]}       # or {dist: empirical, csv: t.csv, column: aht}

and arrival rates as ``120/h`` or a list of ``{from, to, rate}`` pieces. Every draw takes the
``random.Random`` it is given and nothing else, so one seed reproduces a run exactly.

Durations and arrival rates share this module because an ``arrivals`` entry of a scenario reads
both; together they take it a little over 400 lines.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
import random
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from unirouter import durations

__all__ = [
    "Constant",
    "Distribution",
    "Empirical",
    "Exponential",
    "Gamma",
    "Lognormal",
    "PiecewiseRate",
    "RatePiece",
    "parse_arrival_rate",
    "parse_distribution",
]


class Distribution(Protocol):
    """A distribution of non-negative durations (or factors) in seconds."""

    def sample(self, rng: random.Random) -> float:
        """One draw, using only ``rng``."""
        ...

    def mean(self) -> float:
        """The expected value of a draw."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Exponential:
    """Memoryless durations with the given mean."""

    mean_s: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean_s)

    def mean(self) -> float:
        return self.mean_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Lognormal:
    """Durations whose logarithm is normal, given by their own mean and standard deviation.

    The parameters of the underlying normal are sigma² = ln(1 + sd²/mean²) and
    mu = ln(mean) − sigma²/2, which give back exactly the requested mean and sd.
    """

    mean_s: float
    sd_s: float

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p((self.sd_s / self.mean_s) ** 2))

    @property
    def mu(self) -> float:
        return math.log(self.mean_s) - self.sigma**2 / 2

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    def mean(self) -> float:
        return self.mean_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Gamma:
    """Gamma durations: mean shape·scale, coefficient of variation 1/sqrt(shape)."""

    shape: float
    scale: float

    def sample(self, rng: random.Random) -> float:
        return rng.gammavariate(self.shape, self.scale)

    def mean(self) -> float:
        return self.shape * self.scale


@dataclass(frozen=True, slots=True, kw_only=True)
class Constant:
    """Always the same duration; draws nothing from the generator."""

    value_s: float

    def sample(self, rng: random.Random) -> float:
        return self.value_s

    def mean(self) -> float:
        return self.value_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Empirical:
    """Observed durations, each drawn with the same probability (resampling with replacement)."""

    values: tuple[float, ...]

    def sample(self, rng: random.Random) -> float:
        return rng.choice(self.values)

    def mean(self) -> float:
        return statistics.fmean(self.values)


# --- Parsing distributions -----------------------------------------------------------------------

_Parser = Callable[[Mapping[str, object], str, Path | None], Distribution]


def parse_distribution(spec: object, *, field: str, base_dir: Path | None = None) -> Distribution:
    """A :class:`Distribution` from a scenario mapping such as ``{dist: exponential, mean_s: 180}``.

    ``field`` names the scenario field (``"arrivals[0].handle_time"``) in every error; a relative
    ``csv`` path is read from ``base_dir`` (the scenario's folder), else from the working directory.
    Durations ending in ``_s`` may be numbers of seconds or strings such as ``"3m"``. Raises
    ``ValueError`` with one sentence for a missing, unknown or invalid key or an unreadable file.
    """
    if not isinstance(spec, Mapping) or not all(isinstance(key, str) for key in spec):
        raise ValueError(
            f"{field}: expected a mapping such as {{dist: exponential, mean_s: 180}}, not {spec!r}."
        )
    kind = spec.get("dist")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise ValueError(
            f"{field}.dist: {kind!r} is not a distribution; expected one of {', '.join(_KEYS)}."
        )
    unknown = sorted(set(spec) - {"dist"} - _KEYS[kind])
    if unknown:
        raise ValueError(
            f"{field}: unknown key {', '.join(unknown)} for dist: {kind}; "
            f"expected {', '.join(sorted(_KEYS[kind]))}."
        )
    return _PARSERS[kind](spec, field, base_dir)


def _exponential(spec: Mapping[str, object], field: str, base_dir: Path | None) -> Distribution:
    return Exponential(mean_s=_seconds(spec, "mean_s", field, positive=True))


def _lognormal(spec: Mapping[str, object], field: str, base_dir: Path | None) -> Distribution:
    return Lognormal(
        mean_s=_seconds(spec, "mean_s", field, positive=True),
        sd_s=_seconds(spec, "sd_s", field, positive=False),
    )


def _gamma(spec: Mapping[str, object], field: str, base_dir: Path | None) -> Distribution:
    given = {key for key in ("shape", "scale", "mean_s", "cv") if key in spec}
    if given == {"shape", "scale"}:
        return Gamma(shape=_positive(spec, "shape", field), scale=_positive(spec, "scale", field))
    if given == {"mean_s", "cv"}:
        mean = _seconds(spec, "mean_s", field, positive=True)
        cv = _positive(spec, "cv", field)
        return Gamma(shape=1.0 / cv**2, scale=mean * cv**2)
    raise ValueError(
        f"{field}: a gamma distribution takes either shape and scale, or mean_s and cv."
    )


def _constant(spec: Mapping[str, object], field: str, base_dir: Path | None) -> Distribution:
    return Constant(value_s=_seconds(spec, "value_s", field, positive=False))


def _empirical(spec: Mapping[str, object], field: str, base_dir: Path | None) -> Distribution:
    if ("values" in spec) == ("csv" in spec) or ("column" in spec and "csv" not in spec):
        raise ValueError(
            f"{field}: an empirical distribution takes either values, or csv and column."
        )
    if "values" in spec:
        raw = spec["values"]
        if not isinstance(raw, list | tuple):
            raise ValueError(f"{field}.values: expected a list of durations, not {raw!r}.")
        cells = [(f"{field}.values[{i}]", value) for i, value in enumerate(raw)]
    else:
        cells = _csv_cells(spec, field, base_dir)
    if not cells:
        raise ValueError(f"{field}: an empirical distribution needs at least one value.")
    return Empirical(values=tuple(_duration(value, name) for name, value in cells))


def _csv_cells(
    spec: Mapping[str, object], field: str, base_dir: Path | None
) -> list[tuple[str, object]]:
    """The non-blank cells of the chosen column, each with the name to report it by."""
    path = Path(str(spec["csv"]))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            rows = [(reader.line_num, row) for row in reader]
            columns = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{field}.csv: cannot read {str(path)!r} ({error}).") from None
    column = spec.get("column", columns[0] if len(columns) == 1 else None)
    if column not in columns:
        raise ValueError(
            f"{field}.column: {column!r} is not a column of {str(path)!r}; "
            f"its columns are {', '.join(map(repr, columns)) or 'none'}."
        )
    return [
        (f"{field}: {path.name} line {line}, column {column!r}", row[str(column)])
        for line, row in rows
        if (row[str(column)] or "").strip()
    ]


def _seconds(spec: Mapping[str, object], key: str, field: str, *, positive: bool) -> float:
    """A required duration key; ``positive`` also refuses 0."""
    seconds = _duration(_required(spec, key, field), f"{field}.{key}")
    if positive and seconds == 0:
        raise ValueError(f"{field}.{key}: must be greater than 0.")
    return seconds


def _positive(spec: Mapping[str, object], key: str, field: str) -> float:
    """A required number greater than 0 (a shape, a scale, a coefficient of variation)."""
    value = _required(spec, key, field)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{field}.{key}: {value!r} is not a finite number greater than 0.")
    return float(value)


def _duration(value: object, name: str) -> float:
    """Seconds from a number or a string such as ``"3m"``; errors name ``name``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{name}: {value!r} is not a duration; expected seconds or e.g. '3m'.")
    return durations.parse_duration(value, field=name)


def _required(spec: Mapping[str, object], key: str, field: str) -> object:
    if key not in spec:
        raise ValueError(f"{field}: {key} is required for dist: {spec.get('dist')}.")
    return spec[key]


_PARSERS: dict[str, _Parser] = {
    "exponential": _exponential,
    "lognormal": _lognormal,
    "gamma": _gamma,
    "constant": _constant,
    "empirical": _empirical,
}
_KEYS = {
    "exponential": {"mean_s"},
    "lognormal": {"mean_s", "sd_s"},
    "gamma": {"shape", "scale", "mean_s", "cv"},
    "constant": {"value_s"},
    "empirical": {"values", "csv", "column"},
}


# --- Arrival rates -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RatePiece:
    """A constant arrival rate (per second) over [start_s, end_s); ``end_s`` may be infinite."""

    start_s: float
    end_s: float
    rate: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PiecewiseRate:
    """A piecewise-constant arrival rate: zero outside its pieces, which may leave gaps.

    Arrivals form a Poisson process with this rate. :meth:`next_arrival` samples it exactly by
    inverting the cumulative rate: it draws one unit exponential E and returns the first time
    after ``t`` at which the integral of the rate from ``t`` reaches E, walking the pieces. This is
    the memoryless restart at each boundary done once: the part of E a piece did not use is itself a
    unit exponential, so carrying it over is the same in law as drawing a fresh gap at the boundary,
    with no rejected draws (unlike thinning) and exactly one draw per call, which keeps the stream
    of random numbers, and so a seeded run, independent of where the pieces start and end.
    """

    pieces: tuple[RatePiece, ...]
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for before, after in itertools.pairwise(self.pieces):
            if after.start_s < before.end_s:
                raise ValueError("Rate pieces must be in order and must not overlap.")
        for piece in self.pieces:
            if not (0 <= piece.start_s < piece.end_s and 0 <= piece.rate < math.inf):
                raise ValueError(f"{piece} is not a valid rate piece.")
        object.__setattr__(self, "_starts", tuple(piece.start_s for piece in self.pieces))

    @classmethod
    def constant(
        cls, rate: float, *, start_s: float = 0.0, end_s: float = math.inf
    ) -> PiecewiseRate:
        """One rate over [start_s, end_s)."""
        return cls(pieces=(RatePiece(start_s=start_s, end_s=end_s, rate=rate),))

    def scaled(self, factor: float) -> PiecewiseRate:
        """Every rate multiplied by ``factor``: a replication's busyness (SPEC §7)."""
        if not 0 <= factor < math.inf:
            raise ValueError(f"A busyness factor must be finite and not negative, not {factor!r}.")
        return PiecewiseRate(
            pieces=tuple(
                RatePiece(start_s=p.start_s, end_s=p.end_s, rate=p.rate * factor)
                for p in self.pieces
            )
        )

    def rate_at(self, t: float) -> float:
        """The rate per second at time ``t`` (pieces include their start, not their end)."""
        index = bisect.bisect_right(self._starts, t) - 1
        if index >= 0 and t < self.pieces[index].end_s:
            return self.pieces[index].rate
        return 0.0

    def expected_count(self, start_s: float, end_s: float) -> float:
        """The expected number of arrivals in [start_s, end_s): the integral of the rate."""
        return math.fsum(
            p.rate * (min(end_s, p.end_s) - max(start_s, p.start_s))
            for p in self.pieces
            if p.rate and min(end_s, p.end_s) > max(start_s, p.start_s)
        )

    def next_arrival(self, t: float, rng: random.Random) -> float:
        """The time of the first arrival after ``t``; ``math.inf`` when the rate stays zero."""
        needed = rng.expovariate(1.0)
        first = max(0, bisect.bisect_right(self._starts, t) - 1)
        for piece in self.pieces[first:]:
            start = max(t, piece.start_s)
            if piece.rate == 0 or start >= piece.end_s:
                continue
            available = piece.rate * (piece.end_s - start)
            if needed <= available:
                return start + needed / piece.rate
            needed -= available
        return math.inf


def parse_arrival_rate(
    rate: object,
    *,
    field: str,
    start: str | float | None = None,
    end: str | float | None = None,
) -> PiecewiseRate:
    """A :class:`PiecewiseRate` from a scenario's ``rate`` (SPEC §7).

    ``rate`` is a rate (``"120/h"``, or a number per second) that applies from ``start`` to ``end``
    (the arrival's own ``from``/``to``; by default the whole run), or a list of
    ``{from, to, rate}`` pieces. A piece's ``from`` defaults to the previous piece's ``to`` (0 for
    the first) and its ``to`` to the end of the run; pieces may come in any order but must not
    overlap. Raises ``ValueError`` naming ``field``.
    """
    if not isinstance(rate, list | tuple):
        lower = 0.0 if start is None else _duration(start, f"{field}.from")
        upper = math.inf if end is None else _duration(end, f"{field}.to")
        return _schedule([(lower, upper, _rate(rate, field))], field)
    if start is not None or end is not None:
        raise ValueError(f"{field}: from/to bound a plain rate; give each piece its own from/to.")
    if not rate:
        raise ValueError(f"{field}: a list of rates needs at least one {{from, to, rate}} piece.")
    pieces: list[tuple[float, float, float]] = []
    for index, piece in enumerate(rate):
        pieces.append(_piece(piece, f"{field}[{index}]", pieces[-1][1] if pieces else 0.0))
    return _schedule(pieces, field)


def _piece(piece: object, name: str, previous_end: float) -> tuple[float, float, float]:
    """(from, to, rate per second) of one ``{from, to, rate}`` piece."""
    if not isinstance(piece, Mapping) or "rate" not in piece:
        raise ValueError(
            f"{name}: expected a mapping {{from, to, rate}} with a rate, not {piece!r}."
        )
    unknown = sorted(set(map(str, piece)) - {"from", "to", "rate"})
    if unknown:
        raise ValueError(f"{name}: {', '.join(unknown)} is not a key of a rate piece.")
    lower = _duration(piece.get("from", previous_end), f"{name}.from")
    upper = _duration(piece["to"], f"{name}.to") if "to" in piece else math.inf
    return lower, upper, _rate(piece["rate"], f"{name}.rate")


def _rate(value: object, name: str) -> float:
    """Arrivals per second from a number or a string such as ``"120/h"``; errors name ``name``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(
            f"{name}: {value!r} is not a rate; expected e.g. '120/h' or a list of pieces."
        )
    return durations.parse_rate(value, field=name)


def _schedule(pieces: list[tuple[float, float, float]], field: str) -> PiecewiseRate:
    """Sorted, checked pieces; errors name ``field``."""
    pieces = sorted(pieces)
    for lower, upper, _ in pieces:
        if not lower < upper:
            raise ValueError(
                f"{field}: a rate's from ({lower:g}s) must come before its to ({upper:g}s)."
            )
    for (_, upper, _), (lower, _, _) in itertools.pairwise(pieces):
        if lower < upper:
            raise ValueError(f"{field}: rate pieces overlap at {lower:g}s.")
    return PiecewiseRate(
        pieces=tuple(RatePiece(start_s=lo, end_s=hi, rate=r) for lo, hi, r in pieces)
    )
