"""The configuration page (issue 8 item 4) in real headless Chromium: a file with three errors
shows each at its field path and line and is not applied (R41); a valid one is applied with its
version (R42) and the agent desktop sees the change."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from web_support import Server


def _config_page(server: Server, new_page: Callable[[], Page]) -> Page:
    page = new_page()
    page.goto(server.sign_in_link("admin", "config"))
    expect(page.get_by_test_id("running-version")).to_contain_text("version 1")
    expect(page.get_by_test_id("editor")).to_have_value(re.compile("chat_q"))
    return page


def _edit(page: Page, *changes: tuple[str, str]) -> None:
    editor = page.get_by_test_id("editor")
    text = editor.input_value()
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    editor.fill(text)


def test_r41_three_errors_are_shown_at_their_paths_and_nothing_is_applied(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """R41: an unknown member, an unknown fallback queue and an unknown profile, all listed at once
    with their field paths and lines; apply stays off and the server keeps version 1."""
    page = _config_page(server, new_page)
    _edit(
        page,
        ("- bob\n", "- zed\n"),
        ("fallback_queue: quick_q", "fallback_queue: nowhere"),
        ("- chat\n", "- chatty\n"),
    )
    page.get_by_role("button", name="Validate and show the diff").click()
    expect(page.get_by_test_id("verdict")).to_contain_text("Nothing was applied")
    issues = page.get_by_test_id("issues").locator("li")
    expect(issues).to_have_count(3)
    fields = issues.evaluate_all("items => items.map(i => i.dataset.field)")
    assert "workstreams.quick.fallback_queue" in fields
    assert any(f.startswith("queues.") and "members" in f for f in fields)
    assert any("profiles" in f for f in fields)
    expect(page.get_by_role("button", name="Apply")).to_be_disabled()
    page.get_by_test_id("issues").get_by_role("button").first.click()
    shot(page, "three-errors")
    assert server.client("admin").get("/v1/config").json()["version"] == 1


def test_r42_a_valid_configuration_is_applied_and_the_agent_desktop_sees_it(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """R42: validate shows the diff (a new queue), apply makes version 2 at once, and alice's own
    token reads her membership of the new queue (what her desktop is drawn from)."""
    page = _config_page(server, new_page)
    _edit(
        page,
        ("queues:\n", "queues:\n  vip_chat:\n    kind: messaging\n    members:\n    - alice\n"),
    )
    page.get_by_role("button", name="Validate and show the diff").click()
    expect(page.get_by_test_id("diff")).to_contain_text("vip_chat added")
    shot(page, "diff")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("verdict")).to_contain_text("version 2")
    expect(page.get_by_test_id("running-version")).to_contain_text("version 2")
    assert server.client("admin").get("/v1/config").json()["version"] == 2
    assert "vip_chat" in server.client("alice").get("/v1/agents/alice").json()["queues"]
