"""Random bytes for item ids and tokens, read from the OS a block at a time (issue 10 item 3).

``os.urandom`` is a system call that lets go of the GIL: on a busy server the loop's thread then
waits for the writer thread or a worker to hand the GIL back, which measured over 100 µs per call
with two calls per intake. Reading a few KiB at once and handing out slices keeps the same source
(the kernel's CSPRNG; bytes are as unpredictable read early as read late) at a fraction of the
cost. A forked child starts with an empty pool, so it never hands out bytes its parent may use.
"""

from __future__ import annotations

import base64
import os
import threading

__all__ = ["token_bytes", "token_urlsafe"]

#: Bytes read from the OS at a time.
BLOCK = 4096

_lock = threading.Lock()
_pool = b""
_at = 0


def token_bytes(n: int) -> bytes:
    """``n`` random bytes from the OS's CSPRNG (as :func:`secrets.token_bytes`)."""
    global _pool, _at
    if n > BLOCK:
        return os.urandom(n)
    with _lock:
        if _at + n > len(_pool):
            _pool, _at = os.urandom(BLOCK), 0
        taken = _pool[_at : _at + n]
        _at += n
    return taken


def token_urlsafe(n: int) -> str:
    """``n`` random bytes as URL-safe base64 without padding (as :func:`secrets.token_urlsafe`)."""
    return base64.urlsafe_b64encode(token_bytes(n)).rstrip(b"=").decode("ascii")


def _forget() -> None:
    global _lock, _pool, _at
    _lock, _pool, _at = threading.Lock(), b"", 0  # a lock held in the parent at the fork stays held


os.register_at_fork(after_in_child=_forget)
