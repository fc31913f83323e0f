"""The ``channels:`` and ``webhooks:`` sections are validated with the whole configuration (R41):
each wrong field is reported with its path and a sentence, and nothing of it is used."""

from __future__ import annotations

from typing import Any

import pytest

from unirouter import config
from unirouter.errors import ConfigError

BASE: dict[str, Any] = {
    "workstreams": {
        "chat": {"kind": "messaging", "fallback_queue": "chat_q"},
        "mail": {"kind": "record", "fallback_queue": "mail_q"},
    },
    "queues": {"chat_q": {"kind": "messaging"}, "mail_q": {"kind": "record"}},
}
EMAIL = {"workstream": "mail", "address": "help@example.test", "smtp": {"port": 0}}
SMS = {"workstream": "chat", "format": "twilio", "secret": "env:TWILIO_AUTH_TOKEN"}
HOOK = {"name": "crm", "url": "https://crm.example.test/hook", "events": ["item_closed"],
        "secret": "s3cret"}  # fmt: skip


def _issues(**sections: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        config.validate({**BASE, **sections})
    return {issue.path: issue.message for issue in raised.value.issues}


def test_r41_a_complete_channels_section_is_valid() -> None:
    """Email, a Twilio SMS endpoint, a portal and a webhook validate together."""
    valid = config.validate({**BASE, "channels": {"email": EMAIL, "messaging": {"sms": SMS},
                                                  "portal": {"workstream": "mail"}},
                             "webhooks": [HOOK]})  # fmt: skip
    assert valid.channels.messaging["sms"].format.value == "twilio"
    assert valid.webhooks[0].events == ["item_closed"]


def test_r41_a_channel_names_a_workstream_of_its_kind() -> None:
    """Email and portal need a record workstream, messaging a messaging one; unknown is named."""
    issues = _issues(channels={"email": {**EMAIL, "workstream": "chat"},
                               "messaging": {"sms": {**SMS, "workstream": "nope"}},
                               "portal": {"workstream": "chat"}})  # fmt: skip
    assert "needs record" in issues["channels.email.workstream"]
    assert "unknown workstream 'nope'" in issues["channels.messaging.sms.workstream"]
    assert "needs record" in issues["channels.portal.workstream"]


def test_r41_email_needs_an_intake_and_an_address() -> None:
    """Email without smtp or imap, or with a From that is no address, is refused."""
    issues = _issues(channels={"email": {"workstream": "mail", "address": "nobody"}})
    assert "needs an intake" in issues["channels.email"]
    assert "email address" in issues["channels.email.address"]


def test_r41_webhooks_have_unique_names_http_urls_and_known_events() -> None:
    """A repeated name, a URL that is not HTTP, an unknown event type: each is one issue."""
    issues = _issues(webhooks=[HOOK, {**HOOK, "url": "ftp://x", "events": ["item_closd"]}])
    assert issues["webhooks[1].name"] == "webhook 'crm' is defined twice"
    assert "http://" in issues["webhooks[1].url"]
    assert issues["webhooks[1].events[0]"] == "unknown event type 'item_closd'"


def test_r41_schema_errors_of_channels_name_the_field() -> None:
    """A port out of range and an unknown field are reported at their paths."""
    issues = _issues(channels={"email": {**EMAIL, "smtp": {"port": 70000, "colour": 1}}})
    assert "channels.email.smtp.port" in issues
    assert "unknown field 'colour'" in issues["channels.email.smtp.colour"]


def test_r41_a_twilio_provider_needs_account_and_token() -> None:
    """Replies through Twilio's API need the Account SID and the auth token."""
    provider = {"base_url": "http://127.0.0.1:9"}
    issues = _issues(channels={"messaging": {"sms": {**SMS, "provider": provider}}})
    assert "account and token" in issues["channels.messaging.sms.provider"]
