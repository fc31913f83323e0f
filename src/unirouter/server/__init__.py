"""The unirouter server: the engine behind a durable log and the HTTP/WebSocket API (SPEC §6.3, §9).

``host`` runs commands and appends them before acknowledging; ``replay`` rebuilds the engine from
the log on restart; ``app`` builds the FastAPI application; ``routes`` holds the endpoints; ``auth``
the tokens and roles; ``cli`` the ``serve`` and ``token`` commands; ``client`` a small HTTP client.
"""

from __future__ import annotations

from unirouter.server.app import create_app, open_app
from unirouter.server.host import EngineHost

__all__ = ["EngineHost", "create_app", "open_app"]
