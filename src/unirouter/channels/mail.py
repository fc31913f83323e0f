"""Reading inbound mail (pure: bytes in, a value out) and writing replies (issue 9).

A mail becomes an :class:`InboundMail`: its Message-ID (or a digest of its bytes when it has none,
so a redelivery is still recognised), subject, sender, the text of its body (the ``text/plain``
part, or the HTML part turned to text with scripts and styles dropped: stored as text, never
rendered raw), its attachments, and the ids it answers (In-Reply-To, References, a ``[#ITEM]`` tag
in the subject). Malformed MIME never raises: Python's parser is lenient and records defects; a part
that cannot be decoded is read with replacement characters (lone surrogates too, issue 17), so the
worst mail is still a safe item.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from bs4 import BeautifulSoup

from unirouter import wellformed

__all__ = [
    "Attachment",
    "InboundMail",
    "MailRejected",
    "html_to_text",
    "parse",
    "reply",
    "reply_message_id",
    "tagged_item",
]

#: A ``[#ITEM-ID]`` tag (a ULID) in a subject names the item a mail belongs to.
_TAG = re.compile(r"\[#([0-9A-HJKMNP-TV-Z]{26})\]")
#: The Message-IDs of the replies this server sends: ``<ITEM.NUMBER.reply@DOMAIN>``.
_OURS = re.compile(r"^([0-9A-HJKMNP-TV-Z]{26})\.(\d+)\.reply@")
_ID = re.compile(r"<([^<>\s]+)>")
#: Text kept of a mail's body (the rest is cut, with a note).
TEXT_LIMIT = 256 * 1024


class MailRejected(Exception):
    """A mail that cannot become an item (no sender address): refused with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """An attachment: its metadata goes to the log, its body (``data``) to the attachments folder."""

    name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def meta(self) -> dict[str, object]:
        return {"name": self.name, "type": self.content_type, "size": len(self.data),
                "sha256": self.sha256}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMail:
    message_id: str
    subject: str
    sender: str
    sender_name: str
    to: list[str]
    text: str
    attachments: list[Attachment]
    in_reply_to: list[str]
    references: list[str]
    defects: int

    def thread_ids(self) -> list[str]:
        """The ids this mail answers, nearest first."""
        return [*self.in_reply_to, *reversed(self.references)]


def parse(raw: bytes) -> InboundMail:
    """Read one RFC 5322 message; :class:`MailRejected` only when it has no sender address."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    name, sender = email.utils.parseaddr(_header(message, "from"))
    if "@" not in sender:
        raise MailRejected("the mail has no valid From address")
    found = _ID.findall(_header(message, "message-id"))
    text, attachments = _body(message)
    return InboundMail(
        message_id=found[0] if found else "sha256:" + hashlib.sha256(raw).hexdigest(),
        subject=_header(message, "subject").strip()[:998],
        sender=sender.lower(),
        sender_name=name,
        to=[addr for _, addr in email.utils.getaddresses([_header(message, "to")]) if addr],
        text=text,
        attachments=attachments,
        in_reply_to=_ID.findall(_header(message, "in-reply-to")),
        references=_ID.findall(_header(message, "references")),
        defects=len(message.defects) + sum(len(p.defects) for p in message.walk()),
    )


def _header(message: Message, name: str) -> str:
    """A header as text; a header too broken to parse reads as empty rather than raising."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        return ""
    return "" if value is None else wellformed.scrub(str(value))


def _body(message: Message) -> tuple[str, list[Attachment]]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if part.get_content_disposition() == "attachment" or part.get_filename():
            attachments.append(_attachment(part, len(attachments)))
        elif kind == "text/plain" and plain is None:
            plain = _decode(part)
        elif kind == "text/html" and html is None:
            html = _decode(part)
    text = plain if plain is not None else html_to_text(html or "")
    if len(text) > TEXT_LIMIT:
        text = text[:TEXT_LIMIT] + "\n[… the rest of the mail is not shown]"
    return text, attachments


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:  # a codec such as utf-7 or unicode_escape can still make a lone surrogate: scrubbed
        return wellformed.scrub(data.decode(charset, errors="replace"))
    except (LookupError, UnicodeError):  # an unknown charset name, a codec that fails anyway
        return data.decode("utf-8", errors="replace")


def _attachment(part: Message, index: int) -> Attachment:
    payload = part.get_payload(decode=True)
    name = wellformed.scrub(part.get_filename() or f"attachment-{index + 1}")
    name = name.replace("/", "_").replace("\\", "_")
    return Attachment(name=name[:255], content_type=part.get_content_type(),
                      data=payload if isinstance(payload, bytes) else b"")  # fmt: skip


def html_to_text(html: str) -> str:
    """The readable text of an HTML body: scripts, styles and markup dropped, never rendered."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "template", "noscript"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def tagged_item(subject: str) -> str | None:
    """The item a ``[#ITEM]`` tag in the subject names."""
    found = _TAG.search(subject)
    return found.group(1) if found else None


def replied_item(message_id: str) -> str | None:
    """The item of a reply this server sent, from its Message-ID."""
    found = _OURS.match(message_id)
    return found.group(1) if found else None


def reply_message_id(item: str, number: int, domain: str) -> str:
    """The Message-ID of the reply that is message ``number`` of ``item``: the same on a retry."""
    return f"{item}.{number}.reply@{domain}"


def reply(
    *,
    item: str,
    number: int,
    sender: str,
    to: str,
    subject: str,
    text: str,
    domain: str,
    thread: list[str],
) -> EmailMessage:
    """An agent's reply, threaded under ``thread`` (the ids of the mails so far, oldest first)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    base = subject if subject.lower().startswith("re:") else f"Re: {subject}".strip()
    message["Subject"] = base if tagged_item(base) == item else f"{base} [#{item}]"
    message["Message-ID"] = f"<{reply_message_id(item, number, domain)}>"
    message["Date"] = email.utils.formatdate(localtime=False)
    if thread:
        message["In-Reply-To"] = f"<{thread[-1]}>"
        message["References"] = " ".join(f"<{i}>" for i in thread[-20:])
    message.set_content(text)
    return message
