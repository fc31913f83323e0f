"""Portal cases (issue 9): filed with attachments by a portal's intake token, read back by the
customer with the case's own token, against a real ``unirouter serve``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from channel_support import channel_server
from server_support import Server

CHANNELS = """
channels:
  attachments_dir: {folder}
  portal: {{workstream: email, max_attachment_bytes: 1000}}
"""


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("portal")
    server = channel_server(folder, CHANNELS.format(folder=folder / "files"))
    yield server, folder / "files"
    server.stop()


def _case(external_id: str, **extra: object) -> dict[str, object]:
    return {"external_id": external_id, "subject": "Broken invoice",
            "description": "The total is wrong.", "customer": {"id": "c-9", "email": "c9@example.org"},
            **extra}  # fmt: skip


def test_a_case_with_an_attachment_is_a_record_item(portal: tuple) -> None:  # type: ignore[type-arg]
    """201 with the case's status and token; the attachment's body is in the folder."""
    server, folder = portal
    data = b"line 1\nline 2\n"
    attachment = {"name": "invoice.txt", "type": "text/plain",
                  "content_base64": base64.b64encode(data).decode()}  # fmt: skip
    filed = server.client("intake").post("/v1/cases", json=_case("p-1", attachments=[attachment]))
    assert filed.status_code == 201, filed.text
    case = filed.json()
    assert case["state"] == "queued" and case["subject"] == "Broken invoice"
    [first] = case["messages"]
    [meta] = first["attributes"]["attachments"]
    assert (meta["name"], meta["size"]) == ("invoice.txt", len(data))
    assert (folder / meta["stored"]).read_bytes() == data
    item = server.client().get(f"/v1/work-items/{case['id']}").json()
    assert (item["channel"], item["kind"]) == ("case", "record")


def test_the_customer_reads_the_case_with_its_own_token_only(portal: tuple) -> None:  # type: ignore[type-arg]
    """The customer token reads its case; it cannot read another case."""
    server, _ = portal
    mine = server.client("intake").post("/v1/cases", json=_case("p-2")).json()
    other = server.client("intake").post("/v1/cases", json=_case("p-3")).json()
    customer = server.client(mine["customer_token"])
    read = customer.get(f"/v1/cases/{mine['id']}")
    assert read.status_code == 200 and read.json()["state"] == "queued"
    assert customer.get(f"/v1/cases/{other['id']}").status_code == 401


def test_a_repeated_case_returns_the_same_case(portal: tuple) -> None:  # type: ignore[type-arg]
    """The portal's external_id makes a retry idempotent: 200 and the same id."""
    server, _ = portal
    first = server.client("intake").post("/v1/cases", json=_case("p-4"))
    again = server.client("intake").post("/v1/cases", json=_case("p-4"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]


def test_bad_attachments_are_refused_naming_the_field(portal: tuple) -> None:  # type: ignore[type-arg]
    """Not base64, or over max_attachment_bytes: 422 naming the attachment; no case."""
    server, _ = portal
    bad = {"name": "x", "content_base64": "***"}
    big = {"name": "y", "content_base64": base64.b64encode(b"z" * 2000).decode()}
    for attachment, code in ((bad, "invalid_input"), (big, "attachment_too_large")):
        response = server.client("intake").post(
            "/v1/cases", json=_case("p-5", attachments=[attachment])
        )
        assert response.status_code == 422
        assert response.json()["field"] == "attachments[0].content_base64", response.json()
        assert response.json()["type"].endswith(code)
    assert server.client("intake").post("/v1/cases", json=_case("p-5")).status_code == 201
