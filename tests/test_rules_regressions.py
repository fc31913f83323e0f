"""Defects found by an independent audit of the routing rules, each pinned by the rule it broke.

Every test here failed before its fix. They drive the real engine on a manual clock, as the other
rule tests do; each docstring names the rule (SPEC §3) it holds the engine to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from unirouter import errors
from unirouter.config.model import BasePresence, SkillReq
from unirouter.engine.state import ItemState

Rigger = Callable[..., Any]

AVAILABLE, OFFLINE = BasePresence.AVAILABLE, BasePresence.OFFLINE


def entries(item: Any, stage: str) -> list[dict[str, Any]]:
    return [entry for entry in item.trace if entry["stage"] == stage]


def one_queue(agents: dict[str, Any], **queue: Any) -> dict[str, Any]:
    """Workstream ``chat`` into queue ``q`` whose members are ``agents``; ``queue`` adds keys."""
    return {
        "skills": {"french": {"levels": 10}},
        "capacity_profiles": {"chat": {"limit": 3}, "email": {"limit": 5}},
        "workstreams": {
            "chat": {"kind": "messaging", "offer": {"timeout_s": 30}, "fallback_queue": "q"}
        },
        "queues": {"q": {"kind": "messaging", "members": list(agents), **queue}},
        "agents": agents,
    }


# -- B8: R43 trace reasons ----------------------------------------------------------------------------


def test_r43_an_agent_lacking_the_items_profile_is_excluded_for_profile_not_skill(
    rig: Rigger,
) -> None:
    """R43: a member without the item's capacity profile is counted under ``profile``, not ``skill``."""
    agents = {"ann": {"profiles": ["chat", "email"]}, "bob": {"profiles": ["chat"]}}
    r = rig(yaml.safe_dump(one_queue(agents)))
    item = r.engine.submit(external_id="x", workstream="chat", profiles=["email"])
    [entry] = entries(item, "assign")
    assert entry["winner"] == "ann"
    assert entry["excluded"]["profile"]["count"] == 1
    assert "skill" not in entry["excluded"]


def test_r43_a_skill_shortfall_is_still_a_skill_exclusion(rig: Rigger) -> None:
    """R43: an agent with the profile but without the skill stays a ``skill`` exclusion."""
    agents = {"ann": {"skills": {"french": 5}}, "bob": {}}
    r = rig(yaml.safe_dump(one_queue(agents)))
    item = r.engine.submit(
        external_id="x", workstream="chat", skills=[SkillReq(name="french", level=3)]
    )
    [entry] = entries(item, "assign")
    assert entry["excluded"]["skill"]["count"] == 1
    assert "profile" not in entry["excluded"]


def test_r43_a_preferred_agent_lacking_the_profile_is_a_profile_exclusion(rig: Rigger) -> None:
    """R43, R30: a preferred agent (fallback ``wait``) lacking the profile is named under ``profile``."""
    agents = {"ann": {"profiles": ["chat", "email"]}, "bob": {"profiles": ["chat"]}}
    data = one_queue(agents)
    data["workstreams"]["chat"]["preferred"] = {"fallback": "wait"}
    r = rig(yaml.safe_dump(data))
    item = r.engine.submit(
        external_id="x", workstream="chat", profiles=["email"], preferred_agents=["bob"]
    )
    first = entries(item, "assign")[0]
    assert first["excluded"]["profile"] == {"count": 1, "agents": ["bob"]}


def test_r28_a_pick_without_the_items_profile_is_refused_for_profile(rig: Rigger) -> None:
    """R28, R43: a pick refused because the agent lacks the item's profile says ``profile``."""
    agents = {"ann": {"profiles": ["chat"]}}
    data = one_queue(agents)
    data["workstreams"]["chat"]["mode"] = "pick"
    r = rig(yaml.safe_dump(data))
    item = r.engine.submit(external_id="x", workstream="chat", profiles=["email"])
    with pytest.raises(errors.NotEligible) as refused:
        r.engine.pick(item.id, agent="ann")
    assert refused.value.fields["reason"] == "profile"
