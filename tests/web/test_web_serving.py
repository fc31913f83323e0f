"""What the interfaces rely on from the server: the pages under /ui/, ``GET /v1/me`` and the
WebSocket token carried as a subprotocol (issue 8: tokens never in URLs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from web_support import TOKENS, Server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def test_me_names_the_role_and_agent_of_a_token(server: Server) -> None:
    """SPEC §6.3: GET /v1/me answers who a token is; a wrong token is 401."""
    with server.client("alice") as client:
        assert client.get("/v1/me").json() == {"name": "alice", "role": "agent", "agent": "alice"}
    with server.client("nope") as client:
        assert client.get("/v1/me").status_code == 401


def test_pages_are_served_with_a_strict_policy_and_only_the_widget_is_embeddable(
    server: Server,
) -> None:
    """Every page forbids other origins' code; only /ui/widget/ may be framed by another site."""
    signin = httpx.get(server.url + "/ui/")
    assert (
        signin.status_code == 200
        and "script-src 'self'" in signin.headers["content-security-policy"]
    )
    assert "frame-ancestors 'none'" in signin.headers["content-security-policy"]
    assert httpx.get(server.url + "/ui/common/strings/en.json").json()["signin"]["title"]


def test_the_agent_stream_takes_the_token_as_a_subprotocol(server: Server) -> None:
    """A browser offers ``bearer, TOKEN``; the server answers ``bearer`` and sends the hello."""

    url = server.url.replace("http", "ws") + "/v1/agents/alice/stream"
    with connect(url, subprotocols=["bearer", TOKENS["alice"]]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "bearer"
        assert '"hello"' in str(ws.recv(timeout=5))


def test_the_agent_stream_refuses_a_token_in_the_query_string(server: Server) -> None:
    """A token in the URL would reach access logs: it is not accepted (401)."""

    url = server.url.replace("http", "ws") + f"/v1/agents/alice/stream?token={TOKENS['alice']}"
    with pytest.raises(InvalidStatus) as refused, connect(url):
        pass
    assert refused.value.response.status_code == 401


def test_the_api_docs_pages_need_no_network_beyond_the_server(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """Issue 16 item 7: /docs (Swagger UI) loads its code from the server itself
    (fastapi-offline's installed assets); a browser that may reach nothing else renders it."""
    page = new_page()
    elsewhere: list[str] = []

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("unirouter")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    shot(page, "swagger")
    assert elsewhere == [], elsewhere
    html = httpx.get(server.url + "/docs").text
    assert "cdn." not in html and "/docs/assets/swagger-ui-bundle.js" in html
    assert httpx.get(server.url + "/redoc").status_code == 404  # its bundle would reach redoc.ly
