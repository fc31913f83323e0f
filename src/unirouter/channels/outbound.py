"""What the followers deliver (issue 9): webhook events to integrators, and agents' replies to
customers by SMTP or through a messaging provider's HTTP API.

Each ``*_follower`` function builds a :class:`~unirouter.channels.followers.Follower` with the
records it wants and how one is delivered; every delivery carries an id that stays the same on a
retry (the log cursor for webhooks, ``ITEM.NUMBER`` for replies), so a peer can drop repeats.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from unirouter.channels import mail as mails
from unirouter.channels import signing, smtp
from unirouter.channels.followers import DeliveryFailed, Follower
from unirouter.channels.index import ChannelIndex, Thread
from unirouter.config import channels as settings
from unirouter.server.host import EngineHost
from unirouter.storage import RecordKind

__all__ = ["email_follower", "messaging_follower", "webhook_follower"]

#: Senders whose messages go out to the customer.
_STAFF = frozenset({"agent", "supervisor", "admin"})


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """One POST; any transport error or non-2xx answer is a failed attempt."""
    try:
        response = await client.post(url, **kwargs)
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}".rstrip(": ")) from None
    if not response.is_success:
        raise DeliveryFailed(f"HTTP {response.status_code} from {url}")
    return response


# -- webhooks -------------------------------------------------------------------------------------


def webhook_follower(
    host: EngineHost, hook: settings.Webhook, secret: str, client: httpx.AsyncClient
) -> Follower:
    """Events of ``hook.events`` POSTed to ``hook.url`` in log order, signed (HMAC-SHA256 over
    the timestamp and the body); the delivery id is the event's log cursor."""
    wanted = set(hook.events)

    def accept(kind: RecordKind, body: dict[str, Any]) -> bool:
        return kind is RecordKind.EVENT and ("*" in wanted or body.get("type") in wanted)

    async def deliver(cursor: int, event: dict[str, Any]) -> None:
        payload = json.dumps({"webhook": hook.name, "cursor": cursor, "event": event},
                             separators=(",", ":")).encode()  # fmt: skip
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", signing.TIMESTAMP_HEADER: str(stamp),
                   signing.SIGNATURE_HEADER: signing.sign(secret, stamp, payload),
                   "X-Unirouter-Delivery": f"{hook.name}:{cursor}",
                   "X-Unirouter-Event": str(event.get("type"))}  # fmt: skip
        await _post(client, hook.url, content=payload, headers=headers, timeout=hook.timeout_s)

    return Follower(host, f"webhook:{hook.name}", accept, deliver,
                    max_attempts=hook.max_attempts, backoff_s=hook.backoff_s)  # fmt: skip


# -- replies --------------------------------------------------------------------------------------


def _reply_of(index: ChannelIndex, via: str, kind: RecordKind, body: dict[str, Any]) -> bool:
    """A durable staff message on an item that came in through ``via``."""
    if kind is not RecordKind.COMMAND or body.get("op") != "message" or body.get("refused"):
        return False
    args = body.get("args", {})
    thread = index.thread(str(args.get("item")))
    return args.get("sender") in _STAFF and thread is not None and thread.via == via


def _thread(index: ChannelIndex, args: dict[str, Any]) -> Thread:
    thread = index.thread(str(args["item"]))
    if thread is None:  # evicted from the index since it was accepted
        raise DeliveryFailed(f"item {args['item']} is no longer known to the channels")
    return thread


def email_follower(
    host: EngineHost, email: settings.EmailChannel, password: str | None, *, backoff_s: float = 1.0
) -> Follower:
    """Agents' replies to email items, sent by SMTP under the thread's headers."""
    index = host.channel_index
    outbound = email.outbound
    assert outbound is not None
    domain = email.domain or email.address.partition("@")[2]

    async def deliver(cursor: int, body: dict[str, Any]) -> None:
        args = body["args"]
        thread = _thread(index, args)
        message = mails.reply(item=args["item"], number=int(args["number"]),
                              sender=email.address, to=thread.address, subject=thread.subject,
                              text=args["text"], domain=domain, thread=thread.mail_ids)  # fmt: skip
        try:
            await asyncio.to_thread(smtp.send, outbound, password, message)
        except (OSError, ValueError) as error:  # smtplib's errors are OSErrors
            raise DeliveryFailed(f"SMTP: {error}") from None

    return Follower(host, "reply:email", lambda k, b: _reply_of(index, "email", k, b), deliver,
                    backoff_s=backoff_s)  # fmt: skip


def messaging_follower(
    host: EngineHost, name: str, endpoint: settings.MessagingEndpoint, token: str | None,
    client: httpx.AsyncClient, *, backoff_s: float = 1.0,
) -> Follower:  # fmt: skip
    """Agents' replies in conversations of endpoint ``name``, through its provider's API."""
    index = host.channel_index
    provider = endpoint.provider
    assert provider is not None
    via = f"messaging:{name}"

    async def deliver(cursor: int, body: dict[str, Any]) -> None:
        args = body["args"]
        thread = _thread(index, args)
        sender = provider.sender or thread.our_address or ""
        key = f"{args['item']}.{args['number']}"
        if endpoint.format is settings.WebhookFormat.TWILIO:
            await _twilio_send(client, provider, token or "", sender, thread.address, args["text"])
        else:
            message = {"id": key, "to": thread.address, "from": sender, "text": args["text"],
                       "conversation": args["item"]}  # fmt: skip
            headers = {"Idempotency-Key": key}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            await _post(client, provider.base_url.rstrip("/") + "/messages", json=message,
                        headers=headers)  # fmt: skip

    return Follower(host, f"reply:{via}", lambda k, b: _reply_of(index, via, k, b), deliver,
                    backoff_s=backoff_s)  # fmt: skip


async def _twilio_send(
    client: httpx.AsyncClient, provider: settings.ProviderSettings, token: str, sender: str,
    to: str, text: str,
) -> None:  # fmt: skip
    """Twilio's Messages resource: a form POST under the account, basic auth SID:token."""
    account = provider.account or ""
    url = f"{provider.base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
    await _post(client, url, data={"From": sender, "To": to, "Body": text},
                auth=(account, token))  # fmt: skip
