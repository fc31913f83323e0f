"""The web front end (issue 8): static pages that ``unirouter serve`` itself serves under ``/ui/``.

Every page is a client of the public API only (HTTP, WebSocket, server-sent events): no private
route exists for the interfaces, so each screen also proves the API. The pages are plain ES modules
with no build step; :func:`mount` adds them to an app made by ``create_app``::

    /            redirects to the sign-in page /ui/
    /ui/         sign-in (a pasted token, or a link with ``#token=...`` in the fragment)
    /ui/agent/   agent desktop            /ui/console/  supervisor console
    /ui/config/  configuration page       /ui/widget/   customer chat widget
    /ui/common/  shared modules (api.js, i18n.js, session.js, base.css, strings/en.json)
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["STATIC", "UI_PATH", "mount"]

#: The folder of the pages (package data: the wheel ships it).
STATIC = Path(__file__).parent / "static"
UI_PATH = "/ui"

#: The pages load only their own origin's code and talk only to their own origin; no page but the
#: widget may be framed by another site (the widget is made to be embedded).
_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)


class _Pages(StaticFiles):
    """Static files with the security headers of the interfaces."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        embeddable = scope["path"].startswith(f"{UI_PATH}/widget/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *_headers(embeddable)],
                }
            await send(message)

        await super().__call__(scope, receive, with_headers)


def _headers(embeddable: bool) -> list[tuple[bytes, bytes]]:
    framing = "" if embeddable else "; frame-ancestors 'none'"
    return [
        (b"content-security-policy", (_POLICY + framing).encode()),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"cache-control", b"no-cache"),
    ]


def mount(app: FastAPI) -> None:
    """Serve the pages under ``/ui/`` and send ``/`` to the sign-in page."""
    app.mount(UI_PATH, _Pages(directory=STATIC, html=True), name="ui")

    async def home() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/", status_code=307)

    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
