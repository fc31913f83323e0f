"""Skill matching and agent ordering keys (R16, R17, R18).

Agents with the same skills and capacity profiles share a :class:`Signature`; items with the same
requirements share a :class:`Requirement`. Whether a signature qualifies for a requirement, and how it ranks,
is computed once per pair and cached, so a routing decision costs a handful of dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from unirouter.config import model

__all__ = [
    "Requirement",
    "Signature",
    "SignatureTable",
    "exclusion",
    "method_key",
    "rank",
]

INF = float("inf")


@dataclass(frozen=True, slots=True, eq=False)
class Signature:
    """What makes agents interchangeable for skill and profile checks.

    Interned by :class:`SignatureTable`, so identity is equality and hashing costs nothing.
    """

    skills: frozenset[tuple[str, int]]
    profiles: frozenset[str]

    def level(self, skill: str) -> int:
        for name, level in self.skills:
            if name == skill:
                return level
        return 0


@dataclass(frozen=True, slots=True, eq=False)
class Requirement:
    """What an item needs from an agent: skills (name, level, optional), units and profiles.

    Interned by :meth:`of`, so identity is equality and hashing costs nothing.
    """

    skills: tuple[tuple[str, int, bool], ...]
    units: int
    profiles: tuple[str, ...]

    @staticmethod
    def of(skills: Iterable[model.SkillReq], units: int, profiles: Iterable[str]) -> Requirement:
        norm = tuple(sorted((s.name, s.level, s.optional) for s in skills))
        key = (norm, units, tuple(sorted(set(profiles))))
        found = _REQUIREMENTS.get(key)
        if found is None:
            found = _REQUIREMENTS[key] = Requirement(*key)
        return found


_REQUIREMENTS: dict[tuple[Any, ...], Requirement] = {}


class SignatureTable:
    """Interns signatures and caches their rank per (requirement, skill match, method)."""

    __slots__ = ("_cache", "_sigs")

    def __init__(self) -> None:
        self._sigs: dict[tuple[frozenset[tuple[str, int]], frozenset[str]], Signature] = {}
        self._cache: dict[tuple[Requirement, Signature, str, str], tuple[Any, ...] | None] = {}

    def intern(self, skills: dict[str, int], profiles: Iterable[str]) -> Signature:
        key = (frozenset(skills.items()), frozenset(profiles))
        sig = self._sigs.get(key)
        if sig is None:
            sig = self._sigs[key] = Signature(*key)
        return sig

    def missing(self, req: Requirement, sig: Signature) -> list[dict[str, Any]]:
        """The cached :func:`missing_skills` of ``sig`` for ``req`` (R43 names skill-short agents
        with it, one list shared by every trace that names an agent of ``sig``)."""
        key = (req, sig, "", "missing")
        try:
            return self._cache[key]  # type: ignore[return-value]
        except KeyError:
            value = self._cache[key] = missing_skills(req, sig)  # type: ignore[assignment]
            return value

    def rank(
        self, req: Requirement, sig: Signature, match: model.SkillMatch, method: model.Method
    ) -> tuple[Any, ...] | None:
        """The cached :func:`rank` of ``sig`` for ``req``; None when it does not qualify."""
        key = (req, sig, match.value, method.value)
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = rank(req, sig, match, method)
            return value


def rank(
    req: Requirement, sig: Signature, match: model.SkillMatch, method: model.Method
) -> tuple[Any, ...] | None:
    """How well agents of ``sig`` fit ``req``: None when not eligible, else a tuple, smaller is better.

    Profiles: the agent must hold every capacity profile the item carries (R16). Skills: ``exact`` needs
    every required, non-optional skill at a level at least the required one (R16); ``closest`` ranks
    exact-qualified, then over-qualified, then under-qualified agents by closeness (R18); ``none`` ignores
    skills. ``most_skilled`` adds the negated summed level over required skills (R17).
    """
    if not sig.profiles.issuperset(req.profiles):
        return None
    prefix: tuple[Any, ...]
    if match is model.SkillMatch.EXACT:
        if not _qualifies(req, sig):
            return None
        prefix = ()
    elif match is model.SkillMatch.CLOSEST:
        prefix = _closeness(req, sig)
    else:
        prefix = ()
    if method is model.Method.MOST_SKILLED:
        return (*prefix, -sum(sig.level(name) for name, _, _ in req.skills))
    return prefix


def exclusion(req: Requirement, sig: Signature, match: model.SkillMatch) -> str | None:
    """Why agents of ``sig`` may never take items needing ``req`` (R16, R43): ``profile`` when
    they lack a capacity profile the item carries, ``skill`` when their skills fall short."""
    if not sig.profiles.issuperset(req.profiles):
        return "profile"
    if match is model.SkillMatch.EXACT and not _qualifies(req, sig):
        return "skill"
    return None


def _qualifies(req: Requirement, sig: Signature) -> bool:
    return all(optional or sig.level(name) >= level for name, level, optional in req.skills)


def _closeness(req: Requirement, sig: Signature) -> tuple[int, int]:
    """(category, distance): 0 exact, 1 over-qualified, 2 under-qualified (R18)."""
    under = over = distance = 0
    for name, level, optional in req.skills:
        if optional:
            continue
        diff = sig.level(name) - level
        distance += abs(diff)
        under += diff < 0
        over += diff > 0
    category = 2 if under else (1 if over else 0)
    return (category, distance)


def method_key(
    method: model.Method,
    agent_id: str,
    free_units: int,
    joined: float,
    last_assigned: float | None,
    last_release: float | None,
) -> tuple[Any, ...]:
    """An agent's order within a queue's pool for a built-in method, smaller first (R17).

    Every method ends with the round-robin key (never-assigned members first, by join time; then earliest
    last assignment in this queue) and the agent id, so every tie is broken the same way.
    """
    rr: tuple[Any, ...] = (
        (0, joined, agent_id) if last_assigned is None else (1, last_assigned, agent_id)
    )
    if method is HIGHEST_CAPACITY:
        return (-free_units, *rr)
    if method is LEAST_ACTIVE:
        return ((0, 0.0) if last_release is None else (1, last_release), *rr)
    return rr


def score_parts(
    key: tuple[Any, ...], method: model.Method, match: model.SkillMatch
) -> dict[str, Any]:
    """R43: an ordering key of :func:`rank` and :func:`method_key` as named parts, for a person
    reading a trace: the skill fit (``closest``), the summed skill level (``most_skilled``), the
    free units (``highest_capacity``) or last release (``least_active``), then the round-robin
    tie-break (last assignment in the queue, or the join time of a member never assigned)."""
    rest = list(key)
    parts: dict[str, Any] = {}
    if match is model.SkillMatch.CLOSEST:
        category, parts["skill_distance"] = rest.pop(0), rest.pop(0)
        parts["skill_fit"] = ("exact", "over-qualified", "under-qualified")[category]
    if method is model.Method.MOST_SKILLED:
        parts["skill_levels"] = -rest.pop(0)
    elif method is HIGHEST_CAPACITY:
        parts["free_units"] = -rest.pop(0)
    elif method is LEAST_ACTIVE:
        released, at = rest.pop(0)
        parts["last_release"] = at if released else None
    assigned, at = rest[0], rest[1]
    parts["last_assigned"] = at if assigned else None
    if not assigned:
        parts["joined"] = at
    return parts


def missing_skills(req: Requirement, sig: Signature) -> list[dict[str, Any]]:
    """R43: the required skills an agent of ``sig`` lacks or holds below the level asked."""
    return [
        {"skill": name, "level": level, "has": sig.level(name)}
        for name, level, optional in req.skills
        if not optional and sig.level(name) < level
    ]


HIGHEST_CAPACITY = model.Method.HIGHEST_CAPACITY
LEAST_ACTIVE = model.Method.LEAST_ACTIVE
