"""Messaging webhooks in: ``POST /v1/channels/messaging/{name}`` (issue 9).

Two shapes, chosen per endpoint by ``format``:

* ``twilio``: Twilio's Messaging webhook, form-encoded (``MessageSid``, ``From``, ``To``, ``Body``,
  ``NumMedia``, ``MediaUrlN``/``MediaContentTypeN``), authenticated by ``X-Twilio-Signature`` over
  the endpoint's ``public_url`` (what the provider called) and answered with empty TwiML;
* ``json``: ``{"id", "from", "to", "text", "media"}`` signed with ``X-Unirouter-Signature`` over
  ``X-Unirouter-Timestamp`` and the body; a timestamp outside ``window_s`` is refused (a replay).

A request is checked whole before anything is written: no or a wrong signature (401/403), a body
that is not the shape (400/422 naming the field), a sender that is not a number (422). A message
whose provider id was seen before is answered as the first copy was and writes nothing; any 2xx
comes only once the message is durable.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any
from urllib.parse import parse_qsl

import pydantic
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from unirouter.channels import intake, signing
from unirouter.channels.runtime import Runtime
from unirouter.config import channels as settings
from unirouter.server.problems import ApiProblem
from unirouter.server.routes._deps import check_value

__all__ = ["InboundJson", "router"]

router = APIRouter(tags=["channels"])

#: A phone number as providers send it (E.164, optionally prefixed by the provider's channel).
_NUMBER = re.compile(r"^(?:[a-z]+:)?\+?[0-9]{3,20}$")
TEXT_LIMIT = 64 * 1024
_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class InboundJson(pydantic.BaseModel):
    """The generic JSON webhook's body."""

    model_config = pydantic.ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[str, pydantic.Field(min_length=1, max_length=200)]
    sender: Annotated[str, pydantic.Field(alias="from", min_length=1, max_length=200)]
    to: Annotated[str, pydantic.Field(max_length=200)] = ""
    text: Annotated[str, pydantic.Field(max_length=TEXT_LIMIT)] = ""
    media: list[dict[str, pydantic.JsonValue]] = pydantic.Field(default_factory=list)


def _runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.channels
    return found


@router.post("/v1/channels/messaging/{name}", responses={200: {"description": "Stored"}})
async def receive(name: str, request: Request) -> Response:
    """A customer's message from messaging endpoint ``name`` (no bearer token: the provider's
    signature authenticates it). Answered 200 once durable; a repeat is answered the same."""
    runtime = _runtime(request)
    endpoint = runtime.host.engine.config.channels.messaging.get(name)
    if endpoint is None:
        raise ApiProblem(404, "not_found", f"no messaging endpoint {name!r}", field="name")
    raw = await request.body()
    secret = runtime.secret_of(f"messaging:{name}")
    if endpoint.format is settings.WebhookFormat.TWILIO:
        text = _twilio(endpoint, secret, raw, request)
    else:
        text = _json(endpoint, secret, raw, request)
    _check_numbers(endpoint, text)
    receipt = await intake.receive_text(runtime.host, name, endpoint, text)
    if endpoint.format is settings.WebhookFormat.TWILIO:
        return Response(_TWIML, media_type="text/xml")
    return JSONResponse({"item": receipt.item, "message": receipt.number,
                         "duplicate": receipt.duplicate})  # fmt: skip


def _form(raw: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise ApiProblem(400, "malformed_form", "the body is not form-encoded UTF-8",
                         field="body") from None  # fmt: skip


def _twilio(
    endpoint: settings.MessagingEndpoint, secret: str, raw: bytes, request: Request
) -> intake.InboundText:
    given = request.headers.get(signing.TWILIO_HEADER)
    if not given:
        raise ApiProblem(401, "unsigned", f"the {signing.TWILIO_HEADER} header is missing",
                         field=signing.TWILIO_HEADER)  # fmt: skip
    params = _form(raw)
    url = endpoint.public_url or str(request.url)
    if not signing.verify_twilio(url, params, secret, given):
        raise ApiProblem(403, "bad_signature", f"the {signing.TWILIO_HEADER} does not match",
                         field=signing.TWILIO_HEADER)  # fmt: skip
    form = dict(params)
    for required in ("MessageSid", "From"):
        if not form.get(required):
            raise ApiProblem(422, "invalid_input", f"{required} is required", field=required)
    return intake.InboundText(provider_id=form["MessageSid"], sender=form["From"],
                              recipient=form.get("To", ""), text=form.get("Body", "")[:TEXT_LIMIT],
                              media=_twilio_media(form))  # fmt: skip


def _twilio_media(form: dict[str, str]) -> list[dict[str, Any]]:
    count = form.get("NumMedia", "0")
    number = int(count) if count.isdigit() else 0
    return [{"url": form.get(f"MediaUrl{i}", ""), "type": form.get(f"MediaContentType{i}", "")}
            for i in range(min(number, 10))]  # fmt: skip


def _json(
    endpoint: settings.MessagingEndpoint, secret: str, raw: bytes, request: Request
) -> intake.InboundText:
    stamp = request.headers.get(signing.TIMESTAMP_HEADER, "")
    given = request.headers.get(signing.SIGNATURE_HEADER, "")
    if not stamp or not given:
        missing = signing.TIMESTAMP_HEADER if not stamp else signing.SIGNATURE_HEADER
        raise ApiProblem(401, "unsigned", f"the {missing} header is missing", field=missing)
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > endpoint.window_s:
        raise ApiProblem(401, "stale_timestamp", f"the timestamp is not within "
                         f"{endpoint.window_s:g} s of now (a replay?)",
                         field=signing.TIMESTAMP_HEADER)  # fmt: skip
    if not signing.verify(secret, stamp, raw, given):
        raise ApiProblem(403, "bad_signature", f"the {signing.SIGNATURE_HEADER} does not match",
                         field=signing.SIGNATURE_HEADER)  # fmt: skip
    body = _parsed(raw)
    return intake.InboundText(provider_id=body.id, sender=body.sender, recipient=body.to,
                              text=body.text, media=[dict(m) for m in body.media])  # fmt: skip


def _parsed(raw: bytes) -> InboundJson:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiProblem(400, "malformed_json", "the request body is not valid JSON",
                         field="body") from None  # fmt: skip
    check_value(data)  # issue 17: no lone surrogate, no NaN, bounded nesting
    try:
        return InboundJson.model_validate(data)
    except pydantic.ValidationError as error:
        issues = [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                  for e in error.errors()]  # fmt: skip
        raise ApiProblem(422, "invalid_input", "; ".join(f"{i['field']}: {i['message']}"
                         for i in issues), field=issues[0]["field"], errors=issues) from None  # fmt: skip


def _check_numbers(endpoint: settings.MessagingEndpoint, text: intake.InboundText) -> None:
    """Twilio senders are numbers; when the endpoint has its own number, it is the recipient."""
    twilio = endpoint.format is settings.WebhookFormat.TWILIO
    if twilio and not _NUMBER.match(text.sender):
        raise ApiProblem(422, "unknown_number", f"From {text.sender!r} is not a phone number",
                         field="From")  # fmt: skip
    ours = endpoint.provider.sender if endpoint.provider is not None else None
    if ours and text.recipient and text.recipient != ours:
        raise ApiProblem(422, "unknown_number", f"{text.recipient!r} is not this endpoint's "
                         f"number {ours!r}", field="To" if twilio else "to")  # fmt: skip
