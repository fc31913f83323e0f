"""Channel traffic to items and messages through the host's one intake (issue 9).

Every function here looks up, decides and runs its commands on the host with no ``await`` in
between (the loop's one thread is the lock, as for the HTTP routes), then waits until they are
durable; only then may the caller acknowledge (SMTP 250, webhook 2xx). A new item and its first
message are run back to back, so they ride in the same append batch of the log.

Idempotency: a mail is known by its Message-ID, a provider message by its id (the index, and the
engine's ``external_id`` per workstream behind it); a repeat changes nothing and is answered as the
first copy was. Threading of mail: the ``[#ITEM]`` tag of the subject, then In-Reply-To and
References (our replies' Message-IDs name their item). A reply to an open item is a message on it;
a reply to a closed one opens a follow-up item that prefers the agent who had it (R30), because
records are never parked (R34 parks conversations only). A messaging customer's next message joins
their open conversation and resumes it when parked (R29).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unirouter import errors
from unirouter.channels import mail as mails
from unirouter.channels.index import Thread, thread_attributes
from unirouter.config import channels as settings
from unirouter.engine import ItemState, WorkItem
from unirouter.server import commands
from unirouter.server.host import EngineHost

__all__ = [
    "InboundText",
    "Receipt",
    "commit",
    "receive_case",
    "receive_mail",
    "receive_text",
    "store_attachments",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """What an intake did: the item, the message number on it, and whether it was a repeat."""

    item: str
    number: int
    duplicate: bool = False
    created: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundText:
    """A customer's message from a messaging provider."""

    provider_id: str
    sender: str
    recipient: str
    text: str
    media: list[dict[str, Any]]


async def commit(host: EngineHost, steps: list[tuple[str, dict[str, Any]]]) -> None:
    """Run ``steps`` now, in order, then wait until they are durable; a refusal stops the rest
    and is raised once what ran is durable."""
    for op, args in steps:
        _, error = host.execute(op, args)
        if error is not None:
            await host.barrier()
            raise error
    await host.barrier()


def _item(host: EngineHost, item_id: str | None) -> WorkItem | None:
    if item_id is None:
        return None
    try:
        return host.engine.item(item_id)
    except errors.NotFound:
        return None


def _message_args(
    host: EngineHost, item: str, text: str, attributes: dict[str, Any], *, number: int
) -> dict[str, Any]:
    found = _item(host, item)
    parked = found is not None and found.state is ItemState.PARKED
    agent = None if found is None else (found.agent or found.affinity_agent)
    return {"item": item, "number": number, "sender": "customer", "text": text,
            "attributes": attributes, "at": host.now(), "agent": agent,
            "resume": parked}  # fmt: skip


def _new_item(
    host: EngineHost, *, external_id: str, workstream: str, channel: str, thread: Thread,
    customer: dict[str, Any], extra: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    attributes = {**(extra or {}), "thread": thread_attributes(thread)}
    if thread.subject:
        attributes["subject"] = thread.subject
    return {"item_id": commands.new_item_id(), "external_id": external_id,
            "workstream": workstream, "channel": channel, "customer": customer,
            "attributes": attributes}  # fmt: skip


async def _created_before(host: EngineHost, workstream: str, external_id: str) -> str | None:
    """The item an earlier copy of this mail or message created, held or closed and forgotten:
    the channel index keeps a bounded window of ids, the store every intake's key (issue 17
    item 8), so a redelivery long after the window has moved on is still a repeat."""
    held, forgotten = await host.repeat_of(workstream, external_id)
    return held.id if held is not None else forgotten


async def _repeat(host: EngineHost, item: str) -> Receipt:
    """A repeat: answered once the first copy is durable."""
    await host.barrier()
    return Receipt(item=item, number=host.projection.message_count(item), duplicate=True)


# -- email ----------------------------------------------------------------------------------------


def _mail_target(host: EngineHost, mail: mails.InboundMail) -> WorkItem | None:
    """The item a mail answers, if any: its tag, then the ids it replies to."""
    index = host.channel_index
    candidates = [mails.tagged_item(mail.subject)]
    for answered in mail.thread_ids():
        candidates += [mails.replied_item(answered), index.mail_ids.get(answered)]
    for candidate in candidates:
        found = _item(host, candidate)
        if found is not None and index.thread(found.id) is not None:
            return found
    return None


def _preferred(host: EngineHost, previous: WorkItem) -> list[str]:
    """R30: a follow-up prefers the agent who had the thread, while that agent exists."""
    agent = previous.agent or previous.affinity_agent
    return [agent] if agent is not None and agent in host.engine.config.agents else []


async def receive_mail(
    host: EngineHost, email: settings.EmailChannel, mail: mails.InboundMail,
    attachments: list[dict[str, Any]],
) -> Receipt:  # fmt: skip
    """One inbound mail: a message on the item it answers, or a new record item (channel email)."""
    index = host.channel_index
    external = f"email:{mail.message_id}"
    known = index.mail_ids.get(mail.message_id)
    if known is not None:
        return await _repeat(host, known)
    repeat = await _created_before(host, email.workstream, external)
    if repeat is not None:
        return await _repeat(host, repeat)
    attributes = {"message_id": mail.message_id, "subject": mail.subject, "from": mail.sender,
                  "to": mail.to, "attachments": attachments}  # fmt: skip
    target = _mail_target(host, mail)
    if target is not None and target.state is not ItemState.CLOSED:
        number = host.projection.message_count(target.id) + 1
        await commit(host, [("message", _message_args(host, target.id, mail.text, attributes,
                                                      number=number))])  # fmt: skip
        return Receipt(item=target.id, number=number)
    thread = Thread(via="email", address=mail.sender, subject=mail.subject,
                    mail_ids=[mail.message_id])  # fmt: skip
    customer = {"id": mail.sender, "email": mail.sender, "name": mail.sender_name}
    extra: dict[str, Any] = {"from": mail.sender}
    submit = _new_item(host, external_id=external, workstream=email.workstream, channel="email",
                       thread=thread, customer=customer, extra=extra)  # fmt: skip
    if target is not None:
        submit["attributes"]["follows"] = target.id
        submit["preferred_agents"] = _preferred(host, target)
    item = submit["item_id"]
    first = _message_args(host, item, mail.text, attributes, number=1)
    await commit(host, [("submit", submit), ("message", first)])
    return Receipt(item=item, number=1, created=True)


def store_attachments(folder: Path, attachments: list[mails.Attachment]) -> list[dict[str, Any]]:
    """Write attachment bodies to ``folder`` by content digest (durable: written, synced and
    renamed before the item that names them is logged); returns their metadata for the log."""
    metas = []
    for attachment in attachments:
        meta = attachment.meta()
        target = folder / attachment.sha256[:2] / attachment.sha256
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_synced(target, attachment.data)
        meta["stored"] = f"{attachment.sha256[:2]}/{attachment.sha256}"
        metas.append(meta)
    return metas


def _write_synced(target: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- messaging ------------------------------------------------------------------------------------


async def receive_text(
    host: EngineHost, name: str, endpoint: settings.MessagingEndpoint, text: InboundText
) -> Receipt:
    """A customer's message: joins their open conversation (resuming it when parked, R29) or
    opens a new one; a provider id seen before changes nothing."""
    index = host.channel_index
    via = f"messaging:{name}"
    external = f"{via}:{text.provider_id}"
    known = index.provider_ids.get(external)
    if known is not None:
        return await _repeat(host, known)
    repeat = await _created_before(host, endpoint.workstream, external)
    if repeat is not None:
        return await _repeat(host, repeat)
    attributes = {"provider_id": text.provider_id, "from": text.sender, "media": text.media}
    current = _item(host, index.open_conversation(via, text.sender))
    if current is not None and current.state is not ItemState.CLOSED:
        number = host.projection.message_count(current.id) + 1
        await commit(host, [("message", _message_args(host, current.id, text.text, attributes,
                                                      number=number))])  # fmt: skip
        return Receipt(item=current.id, number=number)
    thread = Thread(via=via, address=text.sender, our_address=text.recipient or None)
    customer = {"id": text.sender, "phone": text.sender}
    submit = _new_item(host, external_id=external, workstream=endpoint.workstream,
                       channel=endpoint.channel or name, thread=thread,
                       customer=customer)  # fmt: skip
    item = submit["item_id"]
    first = _message_args(host, item, text.text, attributes, number=1)
    await commit(host, [("submit", submit), ("message", first)])
    return Receipt(item=item, number=1, created=True)


# -- portal cases ---------------------------------------------------------------------------------


async def receive_case(
    host: EngineHost, portal: settings.PortalChannel, case: dict[str, Any],
    attachments: list[dict[str, Any]],
) -> tuple[Receipt, WorkItem]:  # fmt: skip
    """A case from a web portal: a record item (channel case) whose first message is the
    description; the portal's ``external_id`` makes a repeat return the same case."""
    external = f"case:{case['external_id']}"
    repeat, forgotten = await host.repeat_of(portal.workstream, external)
    if forgotten is not None:  # issue 17 item 8: still a repeat
        raise errors.Conflict(f"case {case['external_id']!r} was item {forgotten}, closed and "
                              "no longer held; nothing was created", field="external_id",
                              item=forgotten)  # fmt: skip
    if repeat is not None:
        return await _repeat(host, repeat.id), repeat
    contact = case["customer"]
    thread = Thread(via="portal", address=str(contact.get("email") or contact["id"]),
                    subject=case["subject"])  # fmt: skip
    submit = _new_item(host, external_id=external, workstream=portal.workstream, channel="case",
                       thread=thread, customer=contact,
                       extra=dict(case.get("attributes") or {}))  # fmt: skip
    if case.get("priority") is not None:
        submit["priority"] = case["priority"]
    item = submit["item_id"]
    first = _message_args(host, item, case["description"], {"attachments": attachments}, number=1)
    await commit(host, [("submit", submit), ("message", first)])
    return Receipt(item=item, number=1, created=True), host.engine.item(item)
