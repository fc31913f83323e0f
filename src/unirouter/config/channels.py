"""Models of the ``channels:`` and ``webhooks:`` sections of the configuration (issue 9).

``channels`` says which doors besides ``POST /v1/work-items`` are open: email (an SMTP listener, IMAP
polling, SMTP for replies), messaging webhooks (Twilio-shaped or generic JSON, with a provider for
replies), and portal cases. ``webhooks`` lists the outbound subscriptions of integrators.

Secrets (passwords, auth tokens, signing keys) are written either as text or as ``env:NAME``, read
from the server's environment when the channel starts; the configuration is logged (it rides in
the log's ``init`` and ``apply_config`` records), so ``env:`` keeps the secret out of the log.
Cross-references (workstreams and their kinds, event types) are checked by
:mod:`unirouter.config.channel_checks` (R41).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Channels",
    "EmailChannel",
    "ImapSettings",
    "MessagingEndpoint",
    "PortalChannel",
    "ProviderSettings",
    "SmtpListener",
    "SmtpOutbound",
    "TlsFiles",
    "Webhook",
    "WebhookFormat",
    "WidgetChannel",
]

Port = Annotated[int, Field(ge=0, le=65535)]
Secret = Annotated[str, Field(min_length=1, description="The secret, or env:NAME to read it.")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsFiles(_Model):
    """A certificate chain and its private key (PEM files)."""

    cert: str
    key: str


class SmtpListener(_Model):
    """The SMTP server mail is delivered to (loopback by default; put a relay in front)."""

    host: str = "127.0.0.1"
    port: Port = 2525
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="Largest mail accepted.")
    starttls: TlsFiles | None = None
    require_starttls: bool = False

    @model_validator(mode="after")
    def _tls_to_require(self) -> SmtpListener:
        if self.require_starttls and self.starttls is None:
            raise ValueError("require_starttls needs starttls (cert and key)")
        return self


class ImapSettings(_Model):
    """A mailbox polled for new mail (IDLE when the server offers it)."""

    host: str
    port: Port = 993
    security: Annotated[str, Field(pattern="^(tls|starttls|none)$")] = "tls"
    user: str
    password: Secret
    folder: str = "INBOX"
    poll_s: float = Field(default=30.0, gt=0, description="Seconds between polls without IDLE.")
    idle: bool = True


class SmtpOutbound(_Model):
    """Where agents' replies are sent (a submission server)."""

    host: str
    port: Port = 587
    security: Annotated[str, Field(pattern="^(tls|starttls|none)$")] = "starttls"
    user: str | None = None
    password: Secret | None = None


class EmailChannel(_Model):
    """Inbound email to record items of ``workstream`` (channel ``email``), replies by SMTP."""

    workstream: str
    address: str = Field(description="The support address replies are sent from.")
    domain: str | None = Field(default=None, description="Domain of reply Message-IDs.")
    smtp: SmtpListener | None = None
    imap: ImapSettings | None = None
    outbound: SmtpOutbound | None = None


class WebhookFormat(StrEnum):
    """The shape of a messaging webhook."""

    TWILIO = "twilio"
    JSON = "json"


class ProviderSettings(_Model):
    """The HTTP API replies are sent through. Twilio: ``account`` is the Account SID."""

    base_url: str
    account: str | None = None
    token: Secret | None = None
    sender: str | None = Field(default=None, description="The number or id replies come from.")


class MessagingEndpoint(_Model):
    """``POST /v1/channels/messaging/{name}``: customer messages into conversations."""

    workstream: str
    channel: str | None = Field(default=None, description="Default: the endpoint's name.")
    format: WebhookFormat = WebhookFormat.JSON
    secret: Secret = Field(description="Twilio: the auth token; json: the HMAC-SHA256 key.")
    public_url: str | None = Field(
        default=None, description="Twilio: the URL the provider calls (what it signs)."
    )
    window_s: float = Field(default=300.0, gt=0, description="json: timestamp tolerance.")
    idle_park_s: float | None = Field(
        default=None, gt=0, description="Park an assigned conversation idle this long (R34)."
    )
    provider: ProviderSettings | None = None


class PortalChannel(_Model):
    """``POST /v1/cases``: cases from a web portal (channel ``case``)."""

    workstream: str
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1)


class WidgetChannel(_Model):
    """The customer chat widget (``/ui/widget/``): a public intake of conversations, guarded by
    the deployment's widget key and rate limits (docs/web.md)."""

    workstream: str = Field(description="The messaging workstream of the chats it opens.")
    key: Secret = Field(
        description="The deployment's widget key. It is public (it is written in the pages that "
        "embed the widget): it names the deployment; the rate limits and origins guard the door."
    )
    origins: list[str] = Field(
        default_factory=list,
        description="Sites allowed to open chats (their Origin header); empty: any.",
    )
    per_minute: int = Field(default=6, ge=1, description="New chats per client address a minute.")
    total_per_minute: int = Field(default=600, ge=1, description="New chats a minute in all.")


class Channels(_Model):
    """Every channel adapter; an absent one is off."""

    attachments_dir: str = Field(
        default="attachments", description="Folder of attachment bodies (never in the log)."
    )
    email: EmailChannel | None = None
    messaging: dict[str, MessagingEndpoint] = Field(default_factory=dict)
    portal: PortalChannel | None = None
    widget: WidgetChannel | None = None


class Webhook(_Model):
    """An outbound subscription: ``events`` of the log POSTed to ``url``, signed with ``secret``."""

    name: str
    url: str
    events: list[str] = Field(min_length=1, description="Event types, or '*' for all.")
    secret: Secret
    max_attempts: int = Field(default=8, ge=1, description="Attempts before the dead-letter list.")
    timeout_s: float = Field(default=10.0, gt=0, description="A delivery slower than this failed.")
    backoff_s: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles per attempt, with jitter."
    )
