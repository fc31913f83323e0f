"""What keeps a request cheap: no Nagle stall on answers, no thread hop per dependency, garbage
collections that do not grow with the state the server holds (issue 4)."""

from __future__ import annotations

import asyncio
import gc
import inspect
import socket
import weakref
from collections.abc import Callable, Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from unirouter.server import _gc_pauses
from unirouter.server.app import listen_socket
from unirouter.server.routes import admin, agents, items, stream


async def _accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY on the server side of one connection accepted by an asyncio server on ``sock``."""
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted_sock = writer.get_extra_info("socket")
        seen.set_result(accepted_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        value = await asyncio.wait_for(seen, 10)
        writer.close()
    return value


def _loops() -> Iterator[Callable[[], asyncio.AbstractEventLoop]]:
    yield asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        return
    yield uvloop.new_event_loop


@pytest.mark.parametrize("new_loop", list(_loops()), ids=lambda f: f.__module__)
def test_accepted_connections_turn_nagle_off(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """The serving socket makes asyncio set TCP_NODELAY on each connection: without it, an answer
    written as headers then body waits ~40 ms for the client's delayed ACK."""
    sock = listen_socket("127.0.0.1", 0)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        assert runner.run(_accepted_nodelay(sock)) != 0


def test_listen_socket_names_the_port_it_cannot_bind() -> None:
    """A port already taken is an OSError from listen_socket, and its socket is closed."""
    taken = listen_socket("127.0.0.1", 0)
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(OSError):
        listen_socket("127.0.0.1", port).close()
    taken.close()


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def test_every_route_dependency_runs_on_the_loop() -> None:
    """No route dependency is a plain ``def``: FastAPI would run it in a worker thread per request."""
    calls = {
        dep.call
        for module in (items, agents, admin, stream)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for dep in _dependencies(route.dependant)
        if dep.call is not None and not isinstance(dep.call, type)
    }
    threaded = [c for c in calls if not inspect.iscoroutinefunction(c) and
                not inspect.iscoroutinefunction(type(c).__call__)]  # fmt: skip
    assert calls and threaded == []


class _Node:
    """A reference cycle's member, weakly referenceable."""

    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def bounded_gc() -> Iterator[None]:
    """Install the serving process's collector settings for one test, then undo them."""
    thresholds = gc.get_threshold()
    _gc_pauses.bound_gc_pauses()
    try:
        yield
    finally:
        gc.callbacks.remove(_gc_pauses._freezer)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.collect()


def _cycle() -> tuple[_Node, weakref.ref[_Node]]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


@pytest.mark.usefixtures("bounded_gc")
def test_a_full_collection_freezes_what_survived_it() -> None:
    """After a full collection the survivors are frozen: the next one walks only newer objects."""
    kept = [_Node() for _ in range(1000)]
    frozen = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() >= frozen + len(kept)
    assert len(gc.get_objects(generation=2)) < len(kept)


@pytest.mark.usefixtures("bounded_gc")
def test_cycles_that_die_young_are_collected_as_always() -> None:
    """A cycle dropped before any full collection saw it is reclaimed by the next one."""
    node, ref = _cycle()
    del node
    gc.collect()
    assert ref() is None


@pytest.mark.usefixtures("bounded_gc")
def test_frozen_cycles_are_reclaimed_once_the_frozen_set_doubles() -> None:
    """A cycle that died after being frozen stays until the frozen set has doubled; then the
    thaw lets the next full collection reclaim it."""
    node, ref = _cycle()
    gc.collect()  # survived a full collection: frozen
    del node  # garbage now, but a cycle: reference counting cannot free it
    gc.collect()
    assert ref() is not None
    growth = [[i] for i in range(2 * gc.get_freeze_count() + 1000)]
    gc.collect()  # freezes the growth; the frozen set has more than doubled: thawed
    gc.collect()  # this one walks everything
    assert ref() is None
    del growth


@pytest.mark.usefixtures("bounded_gc")
def test_no_thaw_while_a_copy_on_write_child_shares_the_heap() -> None:
    """Issue 10 item 3: while a snapshot child is alive the frozen set is not thawed (a full walk
    would write to every page the child shares); the thaw comes with the first full collection
    after the child ended, and reclaims the frozen cycle then."""
    node, ref = _cycle()
    gc.collect()  # frozen
    del node
    _gc_pauses.forked(True)
    try:
        growth = [[i] for i in range(2 * gc.get_freeze_count() + 1000)]
        gc.collect()
        gc.collect()
        assert ref() is not None and not _gc_pauses._freezer.thawed
    finally:
        _gc_pauses.forked(False)
    gc.collect()  # the child is gone: thawed now
    gc.collect()  # walks everything
    assert ref() is None
    del growth
