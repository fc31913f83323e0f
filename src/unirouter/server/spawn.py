"""``unirouter serve`` as a child process, started and stopped the way tests, benchmarks and probes
need it: on 127.0.0.1 port 0, ready once it prints the line with its URL (SPEC §6.2).

>>> served = spawn.serve("--db", "u.db", "--config", "config.yaml")  # doctest: +SKIP
>>> httpx.get(served.url + "/readyz")                                 # doctest: +SKIP
>>> served.stop()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

#: The start of the line ``unirouter serve`` prints once it accepts connections; its URL ends it.
SERVING = "unirouter serving on "

#: The command line of this interpreter's unirouter (the script need not be on PATH).
CLI = (sys.executable, "-c", "from unirouter.cli import main; main()")


#: Linux's ``prctl`` option that has the kernel signal a process when the thread that forked it
#: exits (``PR_SET_PDEATHSIG``); elsewhere there is no such call and a child outlives a killed parent.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """What the child runs between fork and exec so that it gets SIGTERM when its parent dies, even
    by SIGKILL (a killed test run would otherwise leave servers behind). Only on Linux, and only
    when the caller is the main thread: the signal follows the forking *thread*, so a child spawned
    from a worker thread would be stopped when that thread ends. The libc function is looked up here,
    before the fork, so the child only makes the call."""
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call took effect
            os._exit(1)

    return arm


class ServeFailed(RuntimeError):
    """The child exited, or printed something else, before it served."""


@dataclass
class Served:
    """A running ``unirouter serve`` child: its process, URL and, when kept, its stderr lines."""

    process: subprocess.Popen[str]
    url: str
    stderr: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL of the same server."""
        return "ws" + self.url.removeprefix("http")

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 20.0) -> int:
        """Send ``sig`` (unless it has already exited) and wait; its exit code. A child that does
        not exit within ``timeout`` is killed, so a stop never leaves a server behind."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def serve(
    *args: str, env: Mapping[str, str] | None = None, keep_stderr: bool = True, port: int = 0
) -> Served:
    """Start ``unirouter serve --port PORT ARGS`` and return once it prints its URL.

    ``env`` is added to this process's environment. ``keep_stderr`` collects the child's stderr
    (read on a thread, so a chatty child never blocks on a full pipe); otherwise it is dropped.
    On Linux the child is stopped (SIGTERM) when this process dies, however it dies.
    :class:`ServeFailed` carries the first line and what stderr said when it does not start."""
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if keep_stderr else subprocess.DEVNULL,
        text=True,
        env=None if env is None else {**os.environ, **env},
        preexec_fn=_die_with_parent(),
    )
    assert process.stdout is not None
    stderr: list[str] = []
    reader = None
    if keep_stderr:
        assert process.stderr is not None
        pipe = process.stderr
        reader = threading.Thread(target=lambda: stderr.extend(pipe), daemon=True)
        reader.start()
    line = process.stdout.readline()
    if not line.startswith(SERVING):
        process.kill()
        process.wait()
        if reader is not None:
            reader.join(timeout=5)
        raise ServeFailed(f"the server did not start: {line!r} {''.join(stderr)}".rstrip())
    return Served(process=process, url=line.split()[-1], stderr=stderr)
