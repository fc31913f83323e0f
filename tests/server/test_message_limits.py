"""Conversation messages are bounded (issue 17 item 2, issue 16 item 5; SPEC §10, bad input changes
nothing): a closed conversation takes no more messages (409), a message has a size limit naming
its field (413), a conversation and a token have rate and volume limits (429 with Retry-After)
and a total (409), and reads come a page at a time. Every refusal writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from server_support import Server, log_cursor, run_cli, submit

from unirouter.server import limits
from unirouter.server.problems import ApiProblem


def _conversation(server: Server, external_id: str) -> tuple[str, Any]:
    item = submit(server.client("intake"), external_id)
    return item["id"], server.client(item["customer_token"])


def _refused_unchanged(server: Server, post: Any, status: int) -> dict[str, Any]:
    """``post()`` answers ``status`` as problem JSON and writes nothing to the log."""
    before = log_cursor(server)
    response = post()
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert log_cursor(server) == before
    body: dict[str, Any] = response.json()
    return body


def test_a_customer_message_to_a_closed_conversation_is_refused_409(server: Server) -> None:
    """Issue 16 item 5: a message to a closed conversation is refused, never accepted and
    dropped; the problem says the conversation is closed and why."""
    item_id, customer = _conversation(server, "closed-1")
    server.client("intake").post(f"/v1/work-items/{item_id}/cancel").raise_for_status()
    url = f"/v1/work-items/{item_id}/messages"
    body = _refused_unchanged(server, lambda: customer.post(url, json={"text": "hello?"}), 409)
    assert body["type"].endswith(":conversation_closed") and body["field"] == "id"
    assert body["reason"] == "abandoned" and "closed" in body["detail"]
    assert customer.get(url).json()["messages"] == []
    admin = server.client("admin")
    _refused_unchanged(server, lambda: admin.post(url, json={"text": "too late"}), 409)


def test_a_message_over_its_size_limit_is_refused_413_naming_the_field(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 2: text is counted in UTF-8 bytes, attributes as compact JSON."""
    limited = serve_with("message_text_bytes=100", "message_attributes_bytes=50")
    item_id, customer = _conversation(limited, "size-1")
    url = f"/v1/work-items/{item_id}/messages"
    long_text = _refused_unchanged(
        limited, lambda: customer.post(url, json={"text": "é" * 51}), 413
    )
    assert long_text["field"] == "text" and long_text["limit"] == 100 and long_text["size"] == 102
    fat = {"text": "hi", "attributes": {"note": "x" * 50}}
    fat_attributes = _refused_unchanged(limited, lambda: customer.post(url, json=fat), 413)
    assert fat_attributes["field"] == "attributes"
    assert customer.post(url, json={"text": "é" * 50}).status_code == 201


def test_a_conversation_over_its_message_rate_gets_429_with_retry_after(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 2: the conversation's budget is shared by both sides; past it, 429 with
    Retry-After, and another conversation is not held back."""
    limited = serve_with("conversation_messages_per_minute=3")
    item_id, customer = _conversation(limited, "rate-1")
    url = f"/v1/work-items/{item_id}/messages"
    for n in range(3):
        assert customer.post(url, json={"text": f"m{n}"}).status_code == 201
    before = log_cursor(limited)
    refused = customer.post(url, json={"text": "one more"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["limit_name"] == "conversation_messages_per_minute"
    assert log_cursor(limited) == before
    admin = limited.client("admin")
    assert admin.post(url, json={"text": "the agent side too"}).status_code == 429
    other_id, other = _conversation(limited, "rate-2")
    assert other.post(f"/v1/work-items/{other_id}/messages", json={"text": "hi"}).status_code == 201


def test_a_conversation_over_its_byte_volume_gets_429(serve_with: Callable[..., Server]) -> None:
    """Issue 17 item 2: the volume limit counts bytes, not just messages."""
    limited = serve_with("conversation_bytes_per_minute=1000", "message_text_bytes=0")
    item_id, customer = _conversation(limited, "volume-1")
    url = f"/v1/work-items/{item_id}/messages"
    assert customer.post(url, json={"text": "x" * 600}).status_code == 201
    body = _refused_unchanged(limited, lambda: customer.post(url, json={"text": "y" * 600}), 429)
    assert body["limit_name"] == "conversation_bytes_per_minute" and body["retry_after_s"] >= 1


def test_one_token_over_its_rate_across_conversations_gets_429(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 2: a token's budget spans every conversation it writes to."""
    limited = serve_with("token_messages_per_minute=2", "conversation_messages_per_minute=0")
    first, _ = _conversation(limited, "token-1")
    second, _ = _conversation(limited, "token-2")
    admin = limited.client("admin")
    assert admin.post(f"/v1/work-items/{first}/messages", json={"text": "a"}).status_code == 201
    assert admin.post(f"/v1/work-items/{second}/messages", json={"text": "b"}).status_code == 201
    url = f"/v1/work-items/{first}/messages"
    body = _refused_unchanged(limited, lambda: admin.post(url, json={"text": "c"}), 429)
    assert body["limit_name"] == "token_messages_per_minute" and "token admin" in body["detail"]
    supervisor = limited.client("supervisor")
    assert supervisor.post(url, json={"text": "another token"}).status_code == 201


def test_a_conversation_holding_its_most_messages_refuses_more_409(
    serve_with: Callable[..., Server],
) -> None:
    """Issue 17 item 2: what one conversation holds is bounded in all, not only per minute."""
    limited = serve_with("conversation_messages=2")
    item_id, customer = _conversation(limited, "full-1")
    url = f"/v1/work-items/{item_id}/messages"
    for n in range(2):
        assert customer.post(url, json={"text": f"m{n}"}).status_code == 201
    body = _refused_unchanged(limited, lambda: customer.post(url, json={"text": "m2"}), 409)
    assert body["type"].endswith(":conversation_full") and body["limit"] == 2


def test_message_reads_come_a_page_at_a_time(serve_with: Callable[..., Server]) -> None:
    """Issue 17 item 2: a read returns at most a page; ``next_after`` is the cursor of the next."""
    limited = serve_with("message_page=2", "message_page_max=3")
    item_id, customer = _conversation(limited, "page-1")
    url = f"/v1/work-items/{item_id}/messages"
    for n in range(1, 6):
        customer.post(url, json={"text": f"m{n}"}).raise_for_status()
    first = customer.get(url).json()
    assert [m["number"] for m in first["messages"]] == [1, 2] and first["next_after"] == 2
    second = customer.get(url, params={"after": 2, "limit": 3}).json()
    assert [m["number"] for m in second["messages"]] == [3, 4, 5] and second["next_after"] is None
    too_many = customer.get(url, params={"limit": 4})
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


def test_an_unreadable_limit_stops_serve_with_a_sentence_naming_it(tmp_path: Path) -> None:
    """The limits are settings of ``serve``: a wrong name or value is refused at start."""
    done = run_cli("serve", "--db", str(tmp_path / "u.db"), "--limit", "message_txt=5")
    assert done.returncode != 0 and "--limit" in done.stderr and "message_txt" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_rate_bucket_refills_over_the_minute_and_a_refusal_takes_nothing() -> None:
    """The token bucket behind the 429s, on a clock the test moves."""
    now = [0.0]
    rates = limits.RateLimiter(clock=lambda: now[0])
    draws = [("per_minute", "k", 2, 1), ("bytes", "k", 10, 4)]
    rates.take(draws)
    rates.take(draws)
    with pytest.raises(ApiProblem) as refused:
        rates.take(draws)
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "30"}
    now[0] = 30.0
    rates.take(draws)  # one message back after half a minute; the bytes bucket had 2 left + 5
    with pytest.raises(ApiProblem):
        rates.take(draws)
