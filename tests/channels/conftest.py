"""Fixtures of the channel tests: real ``unirouter serve`` processes with channels configured,
reusing the server tests' helpers (``tests/server/server_support.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))
