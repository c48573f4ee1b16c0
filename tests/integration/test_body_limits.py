"""Every route has a body limit: a prompt with attachments up to 50 MiB (the seed's limit), anything
else 64 KiB. Beyond it the answer is 413 PAYLOAD_TOO_LARGE in the envelope, whether the gateway says so (its route's
limit, with or without a Content-Length) or the proxy does (beyond the largest, before the gateway
reads a byte); the API document says each route's limit."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import project_id
from tests.integration.sse import read_all

pytestmark = pytest.mark.engine

KIB, MIB = 1024, 1024 * 1024


def too_large(response: httpx.Response) -> bool:
    return response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"


def attachment(size: int) -> dict:
    data = base64.b64encode(b"x" * size).decode()
    source = {"source_type": "Base64", "data": {"data": data, "mime_type": "text/plain"}}
    return {"type": "Text", "content": {"id": "a1", "source": source}}


def test_a_small_route_refuses_a_body_over_64_kib(client):
    padded = {"project_id": project_id(), "padding": "x" * (64 * KIB)}
    refused = client.post("/agent/stop", json=padded)
    assert too_large(refused), refused.text
    assert "takes at most 65536" in refused.json()["message"]


def test_the_limit_holds_for_a_chunked_body_without_a_length(client):
    def chunks() -> Iterator[bytes]:
        yield b'{"project_id": "p1", "padding": "'
        for _ in range(80):
            yield b"x" * KIB
        yield b'"}'

    refused = client.post("/agent/stop", content=chunks(), headers={"content-type": "application/json"})
    assert too_large(refused), refused.text


def test_a_prompt_with_a_megabyte_attachment_is_taken(client):
    project = project_id()
    body = {"prompt": "hello", "project_id": project, "attachments": [attachment(MIB)]}
    response = client.post("/chat", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert read_all(client, response.json()["data"]["session_id"])[-1].event == "end_turn"


def test_the_proxy_stops_a_body_beyond_the_largest_limit(client):
    body = {"prompt": "hello", "project_id": project_id(), "attachments": [attachment(40 * MIB)]}
    refused = client.post("/chat", json=body, timeout=60)
    assert too_large(refused), refused.text[:300]
    assert "50 MiB" in refused.json()["message"]


def test_the_document_gives_each_route_its_limit(client):
    paths = client.get("/api/docs/openapi.json").json()["paths"]
    assert "52428800 bytes" in paths["/chat"]["post"]["responses"]["413"]["description"]
    assert "65536 bytes" in paths["/agent/stop"]["post"]["responses"]["413"]["description"]
    assert "413" not in paths["/health"]["get"]["responses"]
