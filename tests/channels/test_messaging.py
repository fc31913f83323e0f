"""SMS and messaging webhooks (issue 9): a Twilio-shaped form webhook and a generic signed JSON
one against a real ``unirouter serve``, replies out through a provider stand-in on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from channel_support import channel_server, log_bodies, messages, wait_for
from peers import Receiver, receiver
from server_support import Server

from unirouter.channels import signing

TWILIO_TOKEN = "twilio-auth-token"
JSON_SECRET = "json-shared-secret"
PUBLIC_URL = "https://support.example.test/v1/channels/messaging/sms"
OUR_NUMBER = "+15550001111"
CHANNELS = """
channels:
  messaging:
    sms:
      workstream: chat
      format: twilio
      secret: {twilio}
      public_url: {public}
      provider: {{base_url: "{provider}", account: AC123, token: {twilio}, sender: "{ours}"}}
    app:
      workstream: chat
      channel: whatsapp
      format: json
      secret: {secret}
      window_s: 60
      idle_park_s: 0.4
      provider: {{base_url: "{provider}/app", token: provider-token}}
"""


@dataclass
class Rig:
    server: Server
    provider: Receiver

    def twilio(self, signature: str | None = None, **form: str) -> httpx.Response:
        body = urlencode(form)
        sig = signature or signing.twilio_signature(PUBLIC_URL, parse_qsl(body), TWILIO_TOKEN)
        return self.server.client(None).post(
            "/v1/channels/messaging/sms", content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     signing.TWILIO_HEADER: sig})  # fmt: skip

    def json(
        self, body: object, *, stamp: int | None = None, secret: str = JSON_SECRET
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        when = int(time.time()) if stamp is None else stamp
        headers = {signing.TIMESTAMP_HEADER: str(when),
                   signing.SIGNATURE_HEADER: signing.sign(secret, when, raw)}  # fmt: skip
        return self.server.client(None).post("/v1/channels/messaging/app", content=raw,
                                             headers=headers)  # fmt: skip


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with receiver() as provider:
        folder = tmp_path_factory.mktemp("messaging")
        channels = CHANNELS.format(twilio=TWILIO_TOKEN, public=PUBLIC_URL, provider=provider.url,
                                   ours=OUR_NUMBER, secret=JSON_SECRET)  # fmt: skip
        server = channel_server(folder, channels)
        yield Rig(server, provider)
        server.stop()


def _sms(sid: str, sender: str = "+15557654321", body: str = "Hi") -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "AC123", "From": sender, "To": OUR_NUMBER,
            "Body": body, "NumMedia": "0"}  # fmt: skip


def _item_of(rig: Rig, sender: str) -> str:
    items = rig.server.client().get("/v1/work-items", params={"limit": 1000}).json()["items"]
    mine = [i for i in items if i["customer"].get("phone") == sender and i["state"] != "closed"]
    assert len(mine) == 1, mine
    return str(mine[0]["id"])


def test_twilio_signature_matches_the_documented_example() -> None:
    """The signature of Twilio's documented example request, computed by our own code."""
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signing.twilio_signature(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_r29_a_first_sms_opens_a_conversation_and_the_next_joins_it(rig: Rig) -> None:
    """The first message from a number is a new messaging item; the next is its second message."""
    first = rig.twilio(**_sms("SM-open-1", "+15550000001", "Hello"))
    assert first.status_code == 200 and "<Response>" in first.text
    assert rig.twilio(**_sms("SM-open-2", "+15550000001", "Anyone?")).status_code == 200
    item = _item_of(rig, "+15550000001")
    body = rig.server.client().get(f"/v1/work-items/{item}").json()
    assert (body["workstream"], body["channel"], body["kind"]) == ("chat", "sms", "messaging")
    assert [m["text"] for m in messages(rig.server.client(), item)] == ["Hello", "Anyone?"]


def test_a_replayed_message_sid_changes_nothing(rig: Rig) -> None:
    """Twilio retrying a message (same MessageSid) is answered 200 and stored once."""
    for _ in range(3):
        assert rig.twilio(**_sms("SM-dup", "+15550000002")).status_code == 200
    assert len(messages(rig.server.client(), _item_of(rig, "+15550000002"))) == 1


def test_a_wrong_or_missing_twilio_signature_is_refused_and_writes_nothing(rig: Rig) -> None:
    """403 for a signature that does not match, 401 for none; the log does not grow."""
    before = len(log_bodies(rig.server.db))
    wrong = rig.twilio(signature="bm90IGEgc2lnbmF0dXJl", **_sms("SM-forged"))
    assert wrong.status_code == 403 and wrong.json()["field"] == signing.TWILIO_HEADER
    bare = rig.server.client(None).post("/v1/channels/messaging/sms", content=urlencode(_sms("x")),
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert bare.status_code == 401
    assert len(log_bodies(rig.server.db)) == before


def test_a_sender_that_is_not_a_number_is_refused(rig: Rig) -> None:
    """An unknown number (not a phone number) is a 422 naming From; a message to another number
    than the endpoint's is a 422 naming To."""
    assert rig.twilio(**_sms("SM-bad", "<script>")).json()["field"] == "From"
    other = {**_sms("SM-other"), "To": "+15559999999"}
    response = rig.twilio(**other)
    assert response.status_code == 422 and response.json()["field"] == "To"


def test_a_signed_json_message_opens_a_conversation_once(rig: Rig) -> None:
    """The generic webhook: a signed message makes a conversation; its repeat is a duplicate."""
    body = {"id": "wa-1", "from": "+15550000003", "text": "Bonjour"}
    first = rig.json(body)
    assert first.status_code == 200 and first.json()["duplicate"] is False
    again = rig.json(body)
    assert again.json() == {**first.json(), "duplicate": True}
    item = rig.server.client().get(f"/v1/work-items/{first.json()['item']}").json()
    assert item["channel"] == "whatsapp"


def test_json_webhooks_outside_the_window_or_badly_signed_are_refused(rig: Rig) -> None:
    """A stale timestamp (a replay) is 401, a wrong signature 403; neither writes anything."""
    before = len(log_bodies(rig.server.db))
    body = {"id": "wa-old", "from": "+15550000004", "text": "late"}
    stale = rig.json(body, stamp=int(time.time()) - 3600)
    assert stale.status_code == 401 and stale.json()["field"] == signing.TIMESTAMP_HEADER
    assert rig.json(body, secret="guess").status_code == 403
    assert len(log_bodies(rig.server.db)) == before


def test_malformed_json_webhooks_name_the_problem(rig: Rig) -> None:
    """Not JSON: 400; a missing sender: 422 naming it; nothing is written."""
    when = int(time.time())
    raw = b"{not json"
    headers = {signing.TIMESTAMP_HEADER: str(when),
               signing.SIGNATURE_HEADER: signing.sign(JSON_SECRET, when, raw)}  # fmt: skip
    response = rig.server.client(None).post(
        "/v1/channels/messaging/app", content=raw, headers=headers
    )
    assert response.status_code == 400
    missing = rig.json({"id": "wa-2", "text": "who am I"})
    assert missing.status_code == 422 and missing.json()["field"] == "from"


def test_an_agents_reply_goes_out_through_twilios_messages_api(rig: Rig) -> None:
    """alice's message on an SMS conversation is POSTed to the provider's Messages resource."""
    rig.twilio(**_sms("SM-reply-1", "+15550000005", "Help"))
    item = _item_of(rig, "+15550000005")
    _assign_to_alice(rig, item)
    sent = rig.server.client("alice").post(
        f"/v1/work-items/{item}/messages", json={"text": "On it"}
    )
    assert sent.status_code == 201, sent.text
    got = wait_for(lambda: [r for r in rig.provider.answered if b"On+it" in r.body])
    assert got, rig.provider.got
    form = dict(parse_qsl(got[0].body.decode()))
    assert got[0].path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert form == {"From": OUR_NUMBER, "To": "+15550000005", "Body": "On it"}
    assert got[0].headers["authorization"].startswith("Basic ")


def _assign_to_alice(rig: Rig, item: str) -> None:
    """alice accepts the offer of ``item`` (she is the only available agent; the other
    conversations are called off first, so her chat profile has room)."""
    admin = rig.server.client()
    for other in admin.get("/v1/work-items", params={"limit": 1000}).json()["items"]:
        if other["id"] != item and other["state"] != "closed":
            if other["state"] in ("assigned", "parked"):
                admin.post(f"/v1/work-items/{other['id']}/close")
            else:
                admin.post(f"/v1/work-items/{other['id']}/cancel", json={"reason": "cancelled"})

    def offer() -> str | None:
        found = rig.server.client().get(f"/v1/work-items/{item}").json()["offer"]
        return None if found is None else str(found["id"])

    offer_id = wait_for(offer)
    accepted = rig.server.client("alice").post(f"/v1/offers/{offer_id}/accept")
    assert accepted.status_code == 200, accepted.text


def test_r34_an_idle_conversation_parks_and_a_new_message_resumes_it(rig: Rig) -> None:
    """After idle_park_s without messages an assigned conversation parks (R34); the customer's
    next message joins the same item and resumes it (R29)."""
    first = rig.json({"id": "wa-idle-1", "from": "+15550000006", "text": "hello"}).json()
    item = first["item"]
    _assign_to_alice(rig, item)
    state = lambda: rig.server.client().get(f"/v1/work-items/{item}").json()["state"]  # noqa: E731
    assert wait_for(lambda: state() == "parked", timeout=10)
    again = rig.json({"id": "wa-idle-2", "from": "+15550000006", "text": "back"}).json()
    assert again["item"] == item and again["message"] == 2
    assert state() in ("queued", "offered", "assigned")


def test_an_agents_reply_on_the_json_channel_goes_to_the_provider(rig: Rig) -> None:
    """Replies of the generic channel are POSTed to BASE/messages with an idempotency key."""
    item = rig.json({"id": "wa-r-1", "from": "+15550000007", "text": "question"}).json()["item"]
    _assign_to_alice(rig, item)
    rig.server.client("alice").post(f"/v1/work-items/{item}/messages", json={"text": "answer"})
    got = wait_for(lambda: [r for r in rig.provider.answered if r.path == "/app/messages"
                            and json.loads(r.body)["conversation"] == item])  # fmt: skip
    assert got
    body = json.loads(got[0].body)
    assert (body["to"], body["text"], body["id"]) == ("+15550000007", "answer", f"{item}.2")
    assert got[0].headers["idempotency-key"] == f"{item}.2"
    assert got[0].headers["authorization"] == "Bearer provider-token"
