"""Replications (SPEC §7): counts as means per replication, ratios and means pooled (ratio of sums),
and a 95% confidence half-width ``x_ci95`` for every KPI ``x`` across replications."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from unirouter.analytics import _kpi_tally

__all__ = ["ci95", "pool", "t975"]

# Two-sided 95% Student t quantiles t(0.975, df) for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


class _Summable(Protocol):
    def add(self, other: Any, /) -> None: ...

    def kpis(self) -> dict[str, Any]: ...


S = TypeVar("S", bound=_Summable)


def t975(df: int) -> float:
    """t(0.975, df): the table up to 30, then the Cornish–Fisher expansion around the normal quantile
    (error below 1e-4 for df > 30)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = statistics.NormalDist().inv_cdf(0.975)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def ci95(values: Sequence[float | None]) -> float | None:
    """Half-width ``t * s / sqrt(n)`` over the replications where the KPI is defined; null below 2."""
    known = [float(v) for v in values if v is not None]
    if len(known) < 2:
        return None
    return t975(len(known) - 1) * statistics.stdev(known) / math.sqrt(len(known))


def pool(per_replication: Sequence[Mapping[str, S]], make: Callable[[], S]) -> dict[str, Any]:
    """Combine one scope family (e.g. every queue) over replications; a scope missing from a
    replication counts there as empty (zero counts, undefined ratios)."""
    names = sorted({name for scopes in per_replication for name in scopes})
    return {
        name: combined([scopes.get(name) or make() for scopes in per_replication], make)
        for name in names
    }


def combined(parts: Sequence[S], make: Callable[[], S]) -> dict[str, Any]:
    """Pooled KPIs of ``parts`` (one per replication) with their ``_ci95`` half-widths."""
    total = make()
    for part in parts:
        total.add(part)
    out = total.kpis()
    each = [part.kpis() for part in parts]
    count = len(parts)
    for key, value in list(out.items()):
        if isinstance(value, dict):
            out[key] = {k: v / count for k, v in value.items()}
            out[f"{key}_ci95"] = {k: ci95([e[key].get(k, 0.0) for e in each]) for k in value}
            continue
        if key in _kpi_tally.COUNT_FIELDS:
            out[key] = value / count
        out[f"{key}_ci95"] = ci95([e[key] for e in each])
    return out
