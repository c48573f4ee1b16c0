"""/api/docs: a valid OpenAPI document covering every route, and Swagger UI that renders offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import httpx
import pytest
from openapi_spec_validator import validate

from appliance.config_loader import load_config
from appliance.gateway import Gateway
from appliance.http.app import create_app
from rcoder_wire.bodies import ID_PATTERN
from tests.integration.browser import FLAGS

pytestmark = pytest.mark.engine


def app_routes(state_dir: str) -> set[str]:
    """The gateway's API routes (not the docs' or the console's files, nor / which opens the console), in
    OpenAPI's path syntax."""
    app = create_app(Gateway.build(load_config({"state_dir": state_dir}, environ={})), name="routes_probe")
    paths = {re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", "/" + route.path) for route in app.router.routes}
    return {
        path for path in paths if path != "/" and not path.startswith(("/api/docs", "/internal/", "/console"))
    }


def test_the_openapi_document_is_valid_and_covers_every_route(appliance, tmp_path):
    response = httpx.get(f"{appliance.url}/api/docs/openapi.json")  # exempt from the API key
    assert response.status_code == 200
    spec = response.json()

    validate(spec)
    assert set(spec["paths"]) == app_routes(str(tmp_path))
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            statuses = set(operation["responses"])
            assert statuses & {"200", "204"}, f"{method.upper()} {path} documents no success"
            if method in ("post", "put"):
                content = operation["requestBody"]["content"]
                if "application/json" in content:
                    assert "$ref" in content["application/json"]["schema"]
                else:  # an upload: bytes, as they come
                    assert all(media["schema"]["format"] == "binary" for media in content.values())
    assert spec["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }


def test_swagger_ui_renders_with_no_internet(appliance, tmp_path):
    page = httpx.get(f"{appliance.url}/api/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/api/docs/assets/") for a in assets), assets
    for asset in assets:
        assert httpx.get(f"{appliance.url}{asset}").status_code == 200

    chromium = shutil.which("chromium")
    assert chromium, "chromium is needed (scripts/test installs Debian's package)"
    dom = subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp_path}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{appliance.url}/api/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "RCoder appliance API" in dom, dom[-2000:]
    assert "/agent/progress/{session_id}" in dom


def test_the_document_says_what_the_validators_accept(appliance):
    spec = httpx.get(f"{appliance.url}/api/docs/openapi.json").json()
    status = spec["paths"]["/agent/status/{project_id}"]["get"]
    [project] = [p for p in status["parameters"] if p["name"] == "project_id"]
    assert project["schema"]["pattern"] == ID_PATTERN
    assert spec["paths"]["/health"]["get"]["security"] == [], "the exempt routes need no API key"
    assert spec["paths"]["/chat"]["post"]["requestBody"]["required"] is True
    limits = spec["components"]["schemas"]["ResourceLimits"]["properties"]
    assert limits["cpu_limit"]["anyOf"][0]["maximum"] == os.cpu_count(), "the host's CPUs, not the seed's 32"
    stream = spec["paths"]["/agent/progress/{session_id}"]["get"]["responses"]
    assert "content" not in stream["204"]
    event = stream["200"]["content"]["text/event-stream"]["schema"]
    assert event["properties"]["data"]["contentSchema"] == {"$ref": "#/components/schemas/ProgressEventData"}


@pytest.mark.parametrize("url", ["url", "gateway_url"])
def test_a_method_a_route_does_not_take_gets_405_with_allow(appliance, url):
    """Through the proxy too, where nginx refuses TRACE before any route."""
    base = getattr(appliance, url)
    headers = {"x-api-key": appliance.api_key}
    for method in ("TRACE", "PUT", "DELETE"):
        response = httpx.request(method, f"{base}/chat", headers=headers)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == "POST"
        assert response.json()["success"] is False
