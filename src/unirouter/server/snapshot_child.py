"""Engine snapshots taken off the event loop, in a copy-on-write child process (issue 10 item 3).

Pickling the whole engine takes hundreds of milliseconds on a busy centre; done on the loop, every
request waits for it. :func:`begin` forks at the command boundary the snapshot must match (the
child's memory is the engine exactly as it is at that instant), and the parent goes straight on
serving. The child only pickles the engine into a file made for it and ``os._exit``\\ s: it runs no
event loop, opens no store handle, writes no log line and runs no exit handler, so the loop, the
store's connections and the threads the parent holds (each absent in the child) are never touched.
The child runs at a lower scheduling priority (``nice`` +10), so on a small machine it takes the
cores the server leaves idle rather than a share of the loop's. The returned ``collect`` waits for
the child and reads the file; the host calls it in a worker thread once the snapshot's records are
durable, then stores the bytes as before.

Where ``os.fork`` does not exist, the snapshot is taken in place (the old way) so it still works.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable

from unirouter.server import _gc_pauses

__all__ = ["CHILD_NICENESS", "begin"]

#: How much lower the snapshot child's scheduling priority is than the server's.
CHILD_NICENESS = 10


def begin(take: Callable[[], bytes]) -> Callable[[], bytes]:
    """Start taking ``take()`` of the state as it is now; the returned call gives its bytes
    (blocking: call it off the loop) or raises ``OSError`` if the child failed."""
    if not hasattr(os, "fork"):
        body = take()
        return lambda: body
    fd, path = tempfile.mkstemp(prefix="unirouter-snapshot-")
    try:
        pid = os.fork()
    except OSError:
        os.close(fd)
        os.unlink(path)
        raise
    if pid == 0:  # pragma: no cover - the child; its result is read by collect below
        _child(fd, take)
    os.close(fd)
    _gc_pauses.forked(True)

    def collect() -> bytes:
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                raise OSError(f"the snapshot process exited with {code}")
            with open(path, "rb") as file:
                return file.read()
        finally:
            _gc_pauses.forked(False)
            os.unlink(path)

    return collect


def _child(fd: int, take: Callable[[], bytes]) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        # The parent's loop listens on a wakeup fd for signals: the child must not write to it.
        with contextlib.suppress(ValueError):  # only the main thread may; then none is set
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
        # Below the server in the scheduler's eyes: on a small machine the child's pickling
        # otherwise takes a core from the loop for as long as it runs (issue 10 item 3: p99).
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)
        body = memoryview(take())
        while body:
            body = body[os.write(fd, body) :]
        os.fsync(fd)
        code = 0
    finally:
        os._exit(code)
