"""The agent desktop (issue 8 item 2) in a real browser against a real server. The customer side
runs over the public API with the conversation's customer token (SPEC §6.3)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect
from web_support import Server, submit


def _desk(server: Server, new_page: Callable[[], Page], who: str = "alice") -> Page:
    page = new_page()
    page.goto(server.sign_in_link(who))
    expect(page.get_by_role("status")).to_have_text("Connected")
    page.get_by_label("My presence").select_option("available")
    expect(page.get_by_label("My presence")).to_have_value("available")
    return page


def test_alice_takes_a_chat_talks_completes_and_closes_it(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """Offer with a countdown → accept → messages both ways → complete (wrap-up) → close."""
    page = _desk(server, new_page)
    item = submit(server, "c1", customer={"id": "cust-1", "name": "Chloé"})
    offer = page.get_by_test_id("offer")
    expect(offer).to_contain_text("Chloé")
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"^4:5\d$"))
    shot(page, "offer")
    offer.get_by_role("button", name="Accept").click()
    work = page.get_by_test_id("work")
    expect(work).to_contain_text("Assigned")
    work.get_by_role("button", name="Open").click()
    customer = server.client(item["customer_token"])
    assert (
        customer.post(f"/v1/work-items/{item['id']}/messages", json={"text": "Hello?"}).status_code
        == 201
    )
    expect(page.locator(".messages")).to_contain_text("Hello?")
    page.get_by_label("Reply").fill("Hi Chloé, how can I help?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".messages")).to_contain_text("how can I help")
    texts = [
        m["text"] for m in customer.get(f"/v1/work-items/{item['id']}/messages").json()["messages"]
    ]
    assert texts == ["Hello?", "Hi Chloé, how can I help?"]
    shot(page, "conversation")
    page.get_by_role("button", name="Complete (wrap up)").click()
    expect(page.locator("#conv-state")).to_contain_text("Wrap-up")
    # R33: chat's wrap-up blocks 3 s: the desk counts down to the capacity coming back.
    clock = page.get_by_test_id("wrap-up-clock")
    expect(clock).to_contain_text("Wrap-up: your capacity comes back in")
    expect(clock.locator(".wrap-up-clock")).to_have_text(re.compile(r"^0:0[0-3]$"))
    with server.client("admin") as admin:
        body = admin.get(f"/v1/work-items/{item['id']}").json()
    assert body["wrap_up_ends_at"] == body["times"]["wrap_up_at"] + 3
    shot(page, "wrap-up")
    expect(page.locator("#capacity")).to_contain_text("0 used", timeout=8000)
    expect(clock.locator(".wrap-up-clock")).to_have_text("0:00")
    page.get_by_role("button", name="Close").click()
    expect(page.get_by_test_id("work")).to_have_count(0)
    with server.client("admin") as admin:
        assert admin.get(f"/v1/work-items/{item['id']}").json()["state"] == "closed"


def test_a_declined_offer_leaves_the_desk_with_its_reason(
    server: Server, new_page: Callable[[], Page]
) -> None:
    """R25: decline with a reason code; the offer disappears and the event carries the reason
    (bob is made available, so the item goes to him rather than back to its sole decliner)."""
    with server.client("admin") as admin:
        admin.put("/v1/agents/bob/presence", json={"presence": "available"}).raise_for_status()
    page = _desk(server, new_page)
    item = submit(server, "c2")
    offer = page.get_by_test_id("offer")
    offer.get_by_label("Reason for declining").select_option("wrong_skill")
    offer.get_by_role("button", name="Decline").click()
    expect(page.get_by_test_id("offer")).to_have_count(0)
    with server.client("admin") as admin:
        declined = [e for e in _events(admin) if e["type"] == "offer_declined"]
    assert [(e["item"], e["reason"]) for e in declined] == [(item["id"], "wrong_skill")]


def test_an_expired_offer_leaves_the_desk(server: Server, new_page: Callable[[], Page]) -> None:
    """R25: an offer not answered by expires_at goes away by itself (alice, the sole member, then
    gets a new offer of the same item with a new deadline)."""
    page = _desk(server, new_page)
    submit(server, "q1", workstream="quick")
    countdown = page.get_by_test_id("offer").locator(".countdown")
    first = countdown.get_attribute("data-expires")
    assert first is not None
    expect(countdown).not_to_have_attribute("data-expires", first, timeout=6000)
    with server.client("admin") as admin:
        kinds = [e["type"] for e in _events(admin)]
    assert "offer_expired" in kinds


def test_a_supervisor_page_shows_an_agent_no_control_and_the_api_refuses_it(
    server: Server, new_page: Callable[[], Page]
) -> None:
    """An agent token on the console: refused on screen; the API answers 403 if forced."""
    page = new_page()
    page.goto(server.sign_in_link("alice"))
    expect(page).to_have_url(server.url + "/ui/agent/")
    page.goto(server.url + "/ui/console/")
    status = page.evaluate(
        "fetch('/v1/events?follow=false', {headers: {Authorization: "
        "'Bearer ' + sessionStorage.getItem('unirouter.token')}}).then(r => r.status)"
    )
    assert status == 403


def _events(client: httpx.Client) -> list[dict[str, object]]:
    text = client.get("/v1/events", params={"follow": "false"}).text
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_r28_two_desks_pick_one_item_and_the_second_is_told_it_is_taken(
    server: Server, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """R28 in two browsers: alice and bob both see a social (pick mode) item in their pick list;
    alice picks it and has it; bob's pick of the same item is refused and his desk says someone
    else took it, and the list drops it. Bob's page clock is paused once his list is drawn, so
    his list is the one he saw when he clicked (no re-read in between)."""
    alice = _desk(server, new_page, "alice")
    bob = new_page()
    bob.clock.install()
    bob.goto(server.sign_in_link("bob"))
    expect(bob.get_by_role("status")).to_have_text("Connected")
    submit(server, "s1", workstream="social", customer={"id": "cust-9", "name": "Dana"})
    for desk in (alice, bob):
        expect(desk.get_by_test_id("pick-item")).to_contain_text("Dana")
    bob.clock.pause_at(bob.evaluate("Date.now()") + 100)
    shot(bob, "pick-list")
    alice.get_by_test_id("pick-item").get_by_role("button", name="Pick").click()
    expect(alice.get_by_test_id("work")).to_contain_text("Dana")
    expect(alice.locator("#conv-state")).to_contain_text("Assigned")
    bob.get_by_test_id("pick-item").get_by_role("button", name="Pick").click()
    conflict = bob.get_by_test_id("pick-conflict")
    expect(conflict).to_contain_text("Someone else picked")
    expect(conflict).to_contain_text("Dana")
    expect(bob.get_by_test_id("pick-item")).to_have_count(0)
    expect(bob.get_by_test_id("work")).to_have_count(0)
    shot(bob, "pick-conflict")
    with server.client("admin") as admin:
        [item] = admin.get("/v1/work-items", params={"agent": "alice"}).json()["items"]
    assert (item["external_id"], item["state"]) == ("s1", "assigned")


def test_r32_the_desk_offers_the_configured_presences_and_wrap_up_codes(
    tmp_path: Path, new_page: Callable[[], Page], shot: Callable[[Page, str], Path]
) -> None:
    """R32 and the wrap-up codes come from the configuration (GET /v1/catalogue), not the page: a
    custom presence "Coffee break" (base away) is in the picker and sets label and base; the chat
    workstream's custom code "refund_given" is offered at complete and recorded with the item."""
    from web_support import CONFIG, start_server

    custom = CONFIG.replace(
        "    wrap_up: {block: 3}\n", "    wrap_up: {block: 3, codes: [refund_given, no_answer]}\n"
    ).replace(
        "agents:\n", "presences:\n  coffee_break: {base: away, title: Coffee break}\nagents:\n"
    )
    assert custom != CONFIG and "coffee_break" in custom and "refund_given" in custom
    (tmp_path / "custom.yaml").write_text(custom)
    server = start_server(tmp_path / "custom.db", tmp_path / "custom.yaml")
    page = new_page()
    try:
        page.goto(server.sign_in_link("alice"))
        expect(page.get_by_role("status")).to_have_text("Connected")
        presence = page.get_by_label("My presence")
        expect(presence.locator("option")).to_have_text(
            ["Available", "Busy", "Do not disturb", "Away", "Offline", "Coffee break (Away)"]
        )
        presence.select_option(label="Coffee break (Away)")
        with server.client("admin") as admin:
            expect(presence).to_have_value("away|coffee_break")
            view = admin.get("/v1/agents/alice").json()
        assert (view["presence"], view["label"]) == ("away", "coffee_break")
        shot(page, "custom-presence")
        presence.select_option("available")
        expect(presence).to_have_value("available")
        item = submit(server, "c-codes")
        page.get_by_test_id("offer").get_by_role("button", name="Accept").click()
        page.get_by_test_id("work").get_by_role("button", name="Open").click()
        code = page.get_by_label("Wrap-up code")
        expect(code.locator("option")).to_have_text(["(no code)", "refund_given", "no_answer"])
        code.select_option("refund_given")
        shot(page, "wrap-up-code")
        page.get_by_role("button", name="Complete (wrap up)").click()
        expect(page.locator("#conv-state")).to_contain_text("Wrap-up")
        with server.client("admin") as admin:
            assert (
                admin.get(f"/v1/work-items/{item['id']}").json()["wrap_up_code"] == "refund_given"
            )
    finally:
        page.context.close()
        server.stop()
