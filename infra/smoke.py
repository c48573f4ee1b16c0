"""A smoke test of a running appliance through its entry point: health, then one demo chat streamed
to its end. The ephemeral CI stacks (scripts/ci-stack) and the end-to-end test run it."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any


def request(url: str, api_key: str | None, body: dict[str, Any] | None = None, timeout: float = 120):
    headers = {"content-type": "application/json"} if body is not None else {}
    if api_key:
        headers["x-api-key"] = api_key
    data = json.dumps(body).encode() if body is not None else None
    return urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=timeout)


def events(url: str, api_key: str | None):
    """The (event, data) pairs of an SSE stream, until it ends."""
    with request(url, api_key) as response:
        kind, data = "message", ""
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                kind = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data += line.removeprefix("data:").strip()
            elif not line and data:
                yield kind, json.loads(data)
                kind, data = "message", ""


def check(url: str, api_key: str | None = None, project_id: str | None = None) -> str:
    """Health, and a demo chat whose events stream to end_turn; returns the project id."""
    with request(f"{url}/health", api_key, timeout=10) as response:
        health = json.load(response)
    assert health.get("status") == "healthy", health
    print(f"smoke: {url}/health is healthy")
    project_id = project_id or f"smoke-{uuid.uuid4().hex[:8]}"
    with request(
        f"{url}/chat", api_key, {"prompt": "create smoke.txt", "project_id": project_id}
    ) as response:
        session = json.load(response)["data"]["session_id"]
    kinds = [kind for kind, _ in events(f"{url}/agent/progress/{session}", api_key)]
    assert kinds and kinds[0] == "prompt_start" and kinds[-1] == "end_turn", kinds
    print(f"smoke: a demo chat streamed {len(kinds)} events to end_turn (project {project_id})")
    return project_id
