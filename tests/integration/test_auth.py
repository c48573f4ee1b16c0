"""x-api-key authentication on every route but the seed's exempt ones."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.engine

PROTECTED = [
    ("POST", "/chat", {"prompt": "hi", "project_id": "auth-probe"}),
    ("GET", "/agent/progress/some-session", None),
    ("POST", "/agent/session/cancel", {"project_id": "auth-probe"}),
    ("POST", "/agent/stop", {"project_id": "auth-probe"}),
    ("GET", "/agent/status/auth-probe", None),
    ("POST", "/agent/permission", {"project_id": "auth-probe", "session_id": "s", "request_id": "r"}),
    ("GET", "/agents", None),
    ("POST", "/proxy/token", {"project_id": "auth-probe"}),
    ("GET", "/proxy/config", None),
    ("GET", "/computer/pod/status?user_id=auth-probe", None),
    ("GET", "/computer/pod/vnc-status?user_id=auth-probe", None),
    ("POST", "/computer/pod/ensure", {"user_id": "auth-probe"}),
    ("POST", "/computer/pod/restart", {"user_id": "auth-probe"}),
    ("POST", "/computer/pod/keepalive", {"user_id": "auth-probe"}),
    ("GET", "/computer/pod/count", None),
    ("GET", "/computer/pod/list", None),
    ("GET", "/computer/desktop/auth-probe/!bad", None),
]


def call(client: httpx.Client, method: str, path: str, body: dict | None) -> httpx.Response:
    return client.request(method, path, json=body)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_a_protected_route_needs_the_right_key(appliance, method, path, body):
    with httpx.Client(base_url=appliance.url) as anonymous, appliance.client("wrong-key") as wrong:
        missing = call(anonymous, method, path, body)
        bad = call(wrong, method, path, body)
    with appliance.client() as right:
        good = call(right, method, path, {**body, "project_id": "auth-probe-ok"} if body else None)

    for response in (missing, bad):
        assert response.status_code == 401
        assert response.json() == response.json() | {"code": "4010", "success": False, "data": None}
        assert "x-api-key" in response.json()["message"]
    assert good.status_code != 401


def test_health_is_exempt(appliance):
    response = httpx.get(f"{appliance.url}/health")
    assert response.status_code == 200 and response.json()["status"] == "healthy"


def test_the_right_key_opens_the_routes(client):
    assert client.post("/agent/stop", json={"project_id": "auth-probe-ok"}).status_code == 200
    assert client.get("/agent/status/never-used").status_code == 404
