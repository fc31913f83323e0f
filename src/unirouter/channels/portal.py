"""Portal cases: ``POST /v1/cases`` and ``GET /v1/cases/{id}`` (issue 9).

A web portal (with an ``intake`` token) files a case: a record item of channel ``case`` whose
first message is the description, with attachments sent inline as base64 (bodies stored in the
attachments folder, metadata in the log; the whole request stays under the 1 MiB body limit). The
answer carries the case's own ``customer_token``: with it the customer reads the case's status and
its messages, and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue, Strict

from unirouter.channels import intake
from unirouter.channels import mail as mails
from unirouter.channels.runtime import Runtime
from unirouter.config import model
from unirouter.engine import WorkItem
from unirouter.server import views
from unirouter.server.problems import ApiProblem
from unirouter.server.routes._deps import Caller, check_size

__all__ = ["CaseIn", "router"]

router = APIRouter(tags=["channels"])


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    type: str = "application/octet-stream"
    content_base64: str


class CustomerIn(_In):
    id: Annotated[str, Field(min_length=1, max_length=200)]
    email: str | None = None
    name: str | None = None


class CaseIn(_In):
    """A case from a portal; ``external_id`` (the portal's id) makes a repeat return the case."""

    external_id: Annotated[str, Field(min_length=1, max_length=200)]
    subject: Annotated[str, Field(min_length=1, max_length=998)]
    description: Annotated[str, Field(max_length=256 * 1024)] = ""
    customer: CustomerIn
    priority: Annotated[int, Strict(), Field(ge=0, le=model.MAX_PRIORITY)] | None = None
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


def _runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.channels
    return found


def _decoded(case: CaseIn, limit: int) -> list[mails.Attachment]:
    found = []
    for i, attachment in enumerate(case.attachments):
        field = f"attachments[{i}].content_base64"
        try:
            data = base64.b64decode(attachment.content_base64, validate=True)
        except binascii.Error:
            raise ApiProblem(422, "invalid_input", "not base64", field=field) from None
        if len(data) > limit:
            raise ApiProblem(422, "attachment_too_large", f"{len(data)} bytes; the limit is "
                             f"{limit}", field=field, limit=limit)  # fmt: skip
        found.append(
            mails.Attachment(name=attachment.name, content_type=attachment.type, data=data)
        )
    return found


@router.post("/v1/cases", status_code=201, responses={200: {"description": "A repeat"}})
async def file_case(body: CaseIn, request: Request, caller: Caller, response: Response) -> Any:
    """File a case (201 once durable; a repeated ``external_id`` answers 200 with the same case)."""
    caller.allow(model.Role.INTAKE, model.Role.ADMIN)
    runtime = _runtime(request)
    portal = runtime.config.channels.portal
    if portal is None:
        raise ApiProblem(404, "not_found", "portal cases are not enabled (channels.portal)")
    check_size(body.attributes, "attributes")
    files = _decoded(body, portal.max_attachment_bytes)
    metas = await asyncio.to_thread(intake.store_attachments, runtime.folder, files)
    case = body.model_dump(mode="json", exclude={"attachments"})
    case["customer"] = body.customer.model_dump(exclude_none=True)
    receipt, item = await intake.receive_case(runtime.host, portal, case, metas)
    if receipt.duplicate:
        response.status_code = 200
    return {
        **_status(runtime, item),
        "customer_token": await request.app.state.auth.customer_token(item.id),
    }


@router.get("/v1/cases/{item_id}")
async def read_case(item_id: str, request: Request, caller: Caller) -> Any:
    """A case's status and messages: for its customer (its own token) or staff."""
    if caller.customer_of is None:
        caller.allow(model.Role.ADMIN, model.Role.SUPERVISOR, model.Role.INTAKE)
    runtime = _runtime(request)
    item = runtime.host.engine.item(item_id)
    if item.channel != "case":
        raise ApiProblem(404, "not_found", f"{item_id} is not a case", field="item_id")
    return await runtime.host.read(lambda: _status(runtime, item))


def _status(runtime: Runtime, item: WorkItem) -> dict[str, Any]:
    view = views.item_view(runtime.host.engine, runtime.host.projection, item, trace=False)
    keep = ("id", "external_id", "state", "queue", "close_reason", "times")
    status = {key: view[key] for key in keep}
    status["subject"] = item.attributes.get("subject")
    status["messages"] = runtime.host.projection.messages(item.id)
    return status
