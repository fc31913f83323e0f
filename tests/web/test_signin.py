"""Sign-in (issue 8 item 1): a token pasted or carried in a link's fragment opens the interface
of its role; a wrong token gets a clear message; a page beyond the role draws none of its controls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from web_support import TOKENS, Server


def test_root_redirects_to_the_sign_in_page(server: Server, new_page: Callable[[], Page]) -> None:
    """``/`` sends a browser to the sign-in page under /ui/."""
    page = new_page()
    page.goto(server.url + "/")
    expect(page).to_have_url(server.url + "/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_link_with_the_token_in_the_fragment_opens_the_agent_desktop(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """The demo's link (``#token=...``) signs an agent in; the token leaves the address bar and is
    kept in sessionStorage under ``unirouter.token``."""
    page = new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.sign_in_link("alice"))
    expect(page).to_have_url(server.url + "/ui/agent/")
    assert page.evaluate("sessionStorage.getItem('unirouter.token')") == TOKENS["alice"]
    assert not any(TOKENS["alice"] in url for url in requests)
    shot(page, "agent-desktop")


def test_a_wrong_token_gets_a_clear_message_and_opens_nothing(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """A token the server does not know: a message saying so, and the sign-in form stays."""
    page = new_page()
    page.goto(server.url + "/ui/")
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page).to_have_url(server.url + "/ui/")
    assert page.evaluate("sessionStorage.getItem('unirouter.token')") is None
    shot(page, "wrong-token")


def test_an_admin_chooses_between_console_and_configuration(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """An admin token may open the console and the configuration page: both are offered."""
    page = new_page()
    page.goto(server.url + "/ui/")
    page.get_by_label("Token").fill(TOKENS["admin"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Supervisor console")).to_be_visible()
    expect(page.get_by_role("link", name="Configuration")).to_be_visible()
    expect(page.get_by_role("link", name="Agent desktop")).to_have_count(0)
    shot(page, "admin-choice")


def test_an_intake_token_has_no_interface(server: Server, new_page: Callable[[], Page]) -> None:
    """An intake token is for integrations: sign-in says its role opens no page."""
    page = new_page()
    page.goto(server.sign_in_link("intake"))
    expect(page.get_by_role("alert")).to_contain_text("intake")


def test_a_supervisor_token_is_refused_by_the_agent_desktop(
    server: Server, new_page: Callable[[], Page]
) -> None:
    """A page beyond the token's role shows why and none of its controls."""
    page = new_page()
    page.goto(server.url + "/ui/")
    page.evaluate(f"sessionStorage.setItem('unirouter.token', '{TOKENS['supervisor']}')")
    page.goto(server.url + "/ui/agent/")
    expect(page.get_by_test_id("refused")).to_contain_text("supervisor")
    expect(page.get_by_role("combobox")).to_have_count(0)
