"""The customer chat widget (issue 8 item 5) in real headless Chromium: a customer, alice at her
desk and a supervisor at the console, each in a browser context of their own, against a real
server. The widget holds the deployment's widget key and then its chat's customer token only."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from web_support import Server


def _desk(server: Server, new_page: Callable[[], Page], presence: str) -> Page:
    page = new_page()
    page.goto(server.sign_in_link("alice"))
    expect(page.get_by_role("status")).to_have_text("Connected")
    page.get_by_label("My presence").select_option(presence)
    expect(page.get_by_label("My presence")).to_have_value(presence)
    return page


def _open_chat(server: Server, new_page: Callable[[], Page], text: str) -> Page:
    customer = new_page()
    customer.goto(server.widget_link())
    customer.get_by_label("Your name (optional)").fill("Chloé Durand")
    customer.get_by_label("Your question").fill(text)
    customer.get_by_role("button", name="Start chat").click()
    expect(customer.get_by_test_id("chat-messages")).to_contain_text(text)
    return customer


def _chat_id(customer: Page) -> str:
    kept = customer.evaluate("JSON.parse(localStorage.getItem('unirouter.widget.w-widget-key'))")
    assert isinstance(kept, dict) and str(kept["token"]).startswith("urc_"), kept
    return str(kept["id"])


def test_a_customer_chats_with_alice_who_closes_and_the_console_shows_the_trace(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """Widget → queue place → alice's offer with a countdown → accept → messages both ways →
    park, the customer comes back and writes, the chat returns to alice (R29) → complete, wrap-up,
    close → the customer is told → the console's item page says why alice (R43)."""
    desk = _desk(server, new_page, "away")
    customer = _open_chat(server, new_page, "Hello, my parcel is late")
    status = customer.get_by_test_id("chat-status")
    expect(status).to_contain_text("You are number 1 in the queue.")
    shot(customer, "queued")

    desk.get_by_label("My presence").select_option("available")
    offer = desk.get_by_test_id("offer")
    expect(offer).to_contain_text("Chloé Durand")
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"^4:5\d$"))
    expect(status).to_have_text("An agent is about to join.")
    offer.get_by_role("button", name="Accept").click()
    expect(status).to_have_text("Alice has joined the chat.")
    work = desk.get_by_test_id("work")
    work.get_by_role("button", name="Open").click()
    expect(desk.locator(".messages")).to_contain_text("my parcel is late")
    desk.get_by_label("Reply").fill("Hi Chloé, let me look it up.")
    desk.get_by_role("button", name="Send").click()
    messages = customer.get_by_test_id("chat-messages")
    expect(messages.locator("li.theirs")).to_contain_text("let me look it up")
    customer.get_by_label("Your message").fill("Order 4711")
    customer.get_by_role("button", name="Send").click()
    expect(desk.locator(".messages")).to_contain_text("Order 4711")
    shot(customer, "talking")
    shot(desk, "talking-desk")

    desk.get_by_role("button", name="Park").click()
    expect(status).to_have_text("Alice is waiting for your reply: write to continue.")
    customer.close()
    returning = customer.context.new_page()
    returning.goto(server.widget_link())
    expect(returning.get_by_test_id("chat-messages")).to_contain_text("Order 4711")
    expect(returning.get_by_test_id("chat-status")).to_contain_text("waiting for your reply")
    returning.get_by_label("Your message").fill("Any news?")
    returning.get_by_role("button", name="Send").click()
    offer = desk.get_by_test_id("offer")
    expect(offer).to_be_visible()
    offer.get_by_role("button", name="Accept").click()
    expect(returning.get_by_test_id("chat-status")).to_have_text("Alice has joined the chat.")
    desk.get_by_test_id("work").get_by_role("button", name="Open").click()
    expect(desk.locator(".messages")).to_contain_text("Any news?")

    desk.get_by_role("button", name="Complete (wrap up)").click()
    expect(desk.locator("#conv-state")).to_contain_text("Wrap-up")
    desk.get_by_role("button", name="Close").click()
    expect(returning.get_by_test_id("chat-status")).to_have_text("The chat has ended.")
    expect(returning.get_by_role("button", name="Start a new chat")).to_be_visible()
    shot(returning, "closed")

    item = _chat_id(returning)
    console = new_page()
    console.goto(server.sign_in_link("supervisor", "console"))
    expect(console.get_by_test_id("stream-state")).to_have_text("Live")
    console.goto(f"{server.url}/ui/console/#item/{item}")
    expect(console.get_by_test_id("item-facts")).to_contain_text("Closed")
    why = console.get_by_test_id("why")
    expect(why).to_have_count(3)  # waited while alice was away; chosen; chosen again on return
    expect(why.nth(0)).to_contain_text("Nobody was eligible")
    expect(why.nth(1)).to_contain_text("alice was chosen")
    expect(why.nth(2)).to_contain_text("alice was chosen")
    shot(console, "item-trace")


def test_a_customer_who_ends_the_chat_leaves_a_note_at_the_desk(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """Ending a chat with an agent: the desk says the customer ended it; the widget offers a new
    chat, and one the customer ends while it waits is abandoned (R40)."""
    desk = _desk(server, new_page, "available")
    customer = _open_chat(server, new_page, "Quick question")
    desk.get_by_test_id("offer").get_by_role("button", name="Accept").click()
    desk.get_by_test_id("work").get_by_role("button", name="Open").click()
    customer.get_by_role("button", name="End chat").click()
    expect(desk.locator(".messages")).to_contain_text("The customer ended the chat.")
    expect(customer.get_by_test_id("chat-status")).to_contain_text("You ended the chat.")
    shot(customer, "ended")

    desk.get_by_label("My presence").select_option("away")
    expect(desk.get_by_label("My presence")).to_have_value("away")
    customer.get_by_role("button", name="Start a new chat").click()
    customer.get_by_label("Your question").fill("Another one")
    customer.get_by_role("button", name="Start chat").click()
    expect(customer.get_by_test_id("chat-status")).to_contain_text("in the queue")
    customer.get_by_role("button", name="End chat").click()
    expect(customer.get_by_test_id("chat-status")).to_have_text("You left the queue.")
    with server.client("admin") as admin:
        item = admin.get(f"/v1/work-items/{_chat_id(customer)}").json()
    assert (item["state"], item["close_reason"]) == ("closed", "abandoned")


def test_a_widget_without_its_key_says_so(server: Server, new_page: Callable[[], Page]) -> None:
    """No key in the fragment: a clear message, no form."""
    page = new_page()
    page.goto(f"{server.url}/ui/widget/")
    expect(page.get_by_role("alert")).to_contain_text("no widget key")
    expect(page.get_by_role("button", name="Start chat")).to_be_hidden()
