"""Durability and restart (SPEC §9): the log is the state; a restart replays it exactly."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_support import CONFIG, available, run_cli, start_server, submit, without_liveness

from unirouter import config as configuration
from unirouter import errors
from unirouter.server import EngineHost, replay
from unirouter.server.host import HostStopped
from unirouter.storage import MemoryStore, Record, RecordKind, SqliteStore


def _state(server: Any) -> dict[str, Any]:
    admin = server.client("admin")
    items = admin.get("/v1/work-items", params={"limit": 1000}).json()["items"]
    queues = admin.get("/v1/queues").json()
    for queue in queues:
        queue.pop("longest_wait_s")  # grows with the wall clock
    return {"items": items, "agents": admin.get("/v1/agents").json(), "queues": queues}


def test_restart_replays_the_log_to_the_identical_state_and_open_offers_keep_their_deadline(
    tmp_path: Path, config_file: Path
) -> None:
    """SPEC §9: after a restart the state is exactly what the log says; offers keep expires_at."""
    first = start_server(tmp_path / "u.db", config_file)
    intake, alice = first.client("intake"), first.client("alice")
    available(first, "alice")
    accepted = submit(intake, "r-1")
    alice.post(f"/v1/offers/{accepted['offer']['id']}/accept")
    open_offer = submit(intake, "r-2")
    submit(intake, "r-3", "email")
    alice.post(f"/v1/work-items/{accepted['id']}/messages", json={"text": "bonjour"})
    before = _state(first)
    assert first.stop(signal.SIGTERM) == 0
    second = start_server(tmp_path / "u.db", None)  # no --config: the log holds it
    try:
        after = _state(second)
        assert without_liveness(after) == without_liveness(before)
        offer = second.client("admin").get(f"/v1/work-items/{open_offer['id']}").json()["offer"]
        assert offer == open_offer["offer"]
        messages = second.client("alice").get(f"/v1/work-items/{accepted['id']}/messages")
        assert [m["text"] for m in messages.json()["messages"]] == ["bonjour"]
    finally:
        second.stop()


def test_first_start_without_configuration_is_refused_with_a_sentence(tmp_path: Path) -> None:
    """SPEC §6.2: errors print one clear sentence and exit non-zero."""
    result = run_cli("serve", "--db", str(tmp_path / "empty.db"), "--port", "0")
    assert result.returncode == 1
    assert "start the server with --config FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_create_prints_a_token_whose_hash_alone_is_stored(
    tmp_path: Path, config_file: Path
) -> None:
    """SPEC §6.3: `unirouter token create` prints a token once and stores only its SHA-256."""
    db = tmp_path / "u.db"
    made = run_cli("token", "create", "--role", "agent", "--agent", "alice", "--db", str(db))
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.encode() not in db.read_bytes()
    server = start_server(db, config_file)
    try:
        mine = server.client(token).get("/v1/agents/alice")
        theirs = server.client(token).get("/v1/agents/bob")
        assert mine.status_code == 200 and theirs.status_code == 403
    finally:
        server.stop()
    refused = run_cli("token", "create", "--role", "agent", "--db", str(db))
    assert refused.returncode == 2 and "--agent" in refused.stderr


def test_options_come_from_environment_variables(tmp_path: Path) -> None:
    """SPEC §6.2: every option can come from UNIROUTER_<OPTION>."""
    db = tmp_path / "env.db"
    made = run_cli("token", "create", env={"UNIROUTER_ROLE": "admin", "UNIROUTER_DB": str(db)})
    assert made.returncode == 0, made.stderr
    assert db.exists()


def test_replay_refuses_a_log_this_build_would_not_write(tmp_path: Path, config_file: Path) -> None:
    """SPEC §9: a log whose events differ from what the engine emits stops the start."""
    db = tmp_path / "u.db"
    server = start_server(db, config_file)
    submit(server.client("intake"), "d-1")
    server.stop()
    store = SqliteStore(str(db))
    forged = {"seq": 999, "t": 0.0, "type": "item_closed", "item": "x", "reason": "completed"}
    store.append(
        [
            Record(kind=RecordKind.COMMAND, body='{"op":"advance","t":1e12,"args":{}}'),
            Record(kind=RecordKind.EVENT, body=json.dumps(forged)),
        ]
    )
    store.close()
    result = run_cli("serve", "--db", str(db), "--port", "0")
    assert result.returncode == 1 and "diverged" in result.stderr


def test_a_failed_append_stops_the_host_instead_of_diverging(config_file: Path) -> None:
    """SPEC §9: when the log cannot be written nothing more is acknowledged."""

    async def scenario() -> None:
        store = MemoryStore()
        host = EngineHost(store)
        host.restore(configuration.load(config_file))
        stopped: list[BaseException] = []
        host.on_failure = stopped.append
        await host.start()
        store.close()  # the disk is gone
        with pytest.raises(HostStopped):
            await host.command("presence", {"agent": "bob", "presence": "available"})
        assert stopped and host.failure is not None
        with pytest.raises(HostStopped):
            await host.command("presence", {"agent": "alice", "presence": "away"})

    asyncio.run(scenario())


# -- determinism: the property the restart rests on ------------------------------------------------

_OPS = st.one_of(
    st.builds(
        lambda n: ("submit", {"external_id": f"e{n}", "workstream": "chat", "item_id": f"i{n}"}),
        st.integers(0, 6),
    ),
    st.builds(
        lambda a, p: ("presence", {"agent": a, "presence": p}),
        st.sampled_from(["alice", "bob"]),
        st.sampled_from(["available", "away", "busy"]),
    ),
    st.builds(
        lambda o, a: ("accept", {"offer": f"o{o:09d}", "agent": a}),
        st.integers(1, 6),
        st.sampled_from(["alice", "bob"]),
    ),
    st.builds(
        lambda o, a: ("decline", {"offer": f"o{o:09d}", "agent": a}),
        st.integers(1, 6),
        st.sampled_from(["alice", "bob"]),
    ),
    st.builds(lambda n: ("complete", {"item": f"i{n}"}), st.integers(0, 6)),
    st.builds(lambda n: ("close", {"item": f"i{n}"}), st.integers(0, 6)),
    st.builds(lambda n: ("cancel", {"item": f"i{n}"}), st.integers(0, 6)),
    st.builds(lambda a: ("disconnect", {"agent": a}), st.sampled_from(["alice", "bob"])),
    st.builds(lambda a: ("reconnect", {"agent": a}), st.sampled_from(["alice", "bob"])),
    st.just(("advance", {})),
)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(_OPS, st.floats(0, 900)), max_size=25))
def test_replaying_a_logged_run_gives_the_same_events_and_state(steps: list[Any]) -> None:
    """SPEC §9 / STYLE: the same commands at the same times give the same events, so a restart
    that replays the log rebuilds the state exactly (refusals included)."""
    config = configuration.validate(__import__("yaml").safe_load(CONFIG))

    async def live() -> EngineHost:
        host = EngineHost(MemoryStore())
        host.restore(config)
        await host.start()
        t = host.now()
        for (op, args), gap in steps:
            t += gap
            host.execute(op, args, at=t)
        await host.barrier()
        return host

    host = asyncio.run(live())
    restored = replay.replay(host.store, retain_closed=None)
    assert restored is not None
    assert _engine_state(restored.engine) == _engine_state(host.engine)


def _engine_state(engine: Any) -> Any:
    items = {i.id: (i.state, i.queue, i.agent, i.offer, i.close_reason) for i in engine.items()}
    agents = {
        a.id: (a.presence, a.used_units, sorted(a.active), sorted(a.offers), a.connected)
        for a in engine.agents()
    }
    # Not engine.now: a refusal that fired nothing is not logged, yet it moved the clock; the
    # next logged command moves the replay's clock past it the same way.
    return items, agents, engine.next_deadline()


def test_engine_errors_are_command_errors(tmp_path: Path) -> None:
    """The problem table maps every CommandError family (kept in step with errors.py)."""
    from unirouter.server import problems

    for family in (errors.NotFound, errors.Conflict, errors.NotEligible, errors.InvalidCommand):
        assert problems.status_of(family("x"))[0] in (404, 409, 422)
