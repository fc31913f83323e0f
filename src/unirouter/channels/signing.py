"""Signatures of webhooks, in and out (issue 9).

* Twilio's ``X-Twilio-Signature`` (its documented scheme): the full URL the provider called, then
  every POST parameter as name followed by value, sorted by name, with no separators; HMAC-SHA1 of
  that under the account's auth token; base64.
* unirouter's own scheme, for the generic JSON webhook in and every outbound delivery:
  ``X-Unirouter-Timestamp: UNIX_SECONDS`` and ``X-Unirouter-Signature: v1=HEX`` where HEX is
  HMAC-SHA256 under the shared secret of ``TIMESTAMP.`` followed by the raw body. The timestamp is
  signed, so a replay outside the window is refused even with a valid signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TWILIO_HEADER",
    "sign",
    "twilio_signature",
    "verify",
    "verify_twilio",
]

TWILIO_HEADER = "X-Twilio-Signature"
SIGNATURE_HEADER = "X-Unirouter-Signature"
TIMESTAMP_HEADER = "X-Unirouter-Timestamp"


def twilio_signature(url: str, params: Iterable[tuple[str, str]], token: str) -> str:
    """The signature Twilio sends for a POST of ``params`` to ``url``."""
    text = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio(url: str, params: Iterable[tuple[str, str]], token: str, given: str) -> bool:
    return hmac.compare_digest(twilio_signature(url, params, token), given)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=HEX``: HMAC-SHA256 of ``TIMESTAMP.BODY`` under ``secret``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    """A signature header (several ``v1=`` values may be given, comma-separated, during a secret
    rotation) matches ``sign(secret, timestamp, body)``."""
    if not timestamp.isdigit():
        return False
    expected = sign(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, part.strip()) for part in given.split(","))
