"""A real IMAP server for the tests: Debian's dovecot, started in a temporary folder with its own
configuration on a free loopback port, one user whose Maildir the test fills."""

from __future__ import annotations

import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Dovecot", "dovecot"]

USER, PASSWORD = "help@example.test", "imap-password"
BINARY = "/usr/sbin/dovecot"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{root}/home/%n/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


@dataclass
class Dovecot:
    root: Path
    port: int

    @property
    def maildir(self) -> Path:
        return self.root / "home" / "help" / "Maildir"

    def deliver(self, name: str, raw: bytes) -> None:
        """Put a mail in the user's Maildir ``new/`` (as a delivery agent would)."""
        account = pwd.getpwnam("dovecot")
        temporary = self.maildir / "tmp" / name
        temporary.write_bytes(raw)
        shutil.chown(temporary, account.pw_uid, account.pw_gid)
        temporary.rename(self.maildir / "new" / f"{name}.{int(time.time())}:2,")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                return sock.recv(64).startswith(b"* OK")
        except OSError:
            time.sleep(0.05)
    return False


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    """dovecot running for the length of the block, in a temporary folder of its own outside
    pytest's (whose parents only root may enter; dovecot reads its files as its own user).
    Skipped where dovecot is not installed; ``make test`` installs it."""
    if not Path(BINARY).exists():
        pytest.skip("dovecot-imapd is not installed (make test installs it)")
    root = Path(tempfile.mkdtemp(prefix="unirouter-dovecot-"))
    root.chmod(0o711)
    try:
        with _running(root) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _running(root: Path) -> Iterator[Dovecot]:
    server = Dovecot(root=root, port=_free_port())
    account = pwd.getpwnam("dovecot")
    for sub in ("cur", "new", "tmp"):
        (server.maildir / sub).mkdir(parents=True)
    for path in [server.root / "home", *server.root.joinpath("home").rglob("*")]:
        shutil.chown(path, account.pw_uid, account.pw_gid)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=server.port))
    process = subprocess.Popen([BINARY, "-F", "-c", str(root / "dovecot.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert _ready(server.port), (root / "dovecot.log").read_text(errors="replace")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
