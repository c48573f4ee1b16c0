"""appliance/http/console.py: the console's files, and the appliance's root leading to them, without the
API key (which every other route still needs)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sanic import Sanic

from appliance.config_loader import load_config
from appliance.gateway import Gateway
from appliance.http.app import create_app
from appliance.http.auth import is_exempt
from tests.fakes.engine import FakeEngine
from tests.stack import free_port


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's application, serving HTTP, with the API key s3cret."""
    config = load_config(
        {
            "state_dir": str(tmp_path / "state"),
            "engine_config.stack": f"console{uuid.uuid4().hex[:6]}",
            "engine_config.host_firewall": "false",
            "cleanup_config.enabled": "false",
            "warm_pool.size": "0",
            "api_key_auth.enabled": "true",
            "api_key_auth.api_key": "s3cret",
        },
        environ={},
    )
    Sanic.test_mode = True
    app = create_app(Gateway.build(config, FakeEngine()), name=f"console{uuid.uuid4().hex}")
    server = await app.create_server(host="127.0.0.1", port=free_port(), return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    port = server.server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def test_the_root_leads_to_the_console_without_the_key(served):
    root = await served.get("/")
    assert root.status_code in (301, 302, 303, 307, 308) and root.headers["location"] == "/console/"

    page = await served.get("/", follow_redirects=True)
    assert page.status_code == 200 and "<title>RCoder console</title>" in page.text
    assert (await served.get("/console/app.js")).headers["content-type"].startswith("text/javascript")


async def test_only_the_root_itself_is_exempt_from_the_key(served):
    assert is_exempt("/") and not is_exempt("/agents") and not is_exempt("/x/")
    assert (await served.get("/agents")).status_code == 401
    assert (await served.get("/agents", headers={"x-api-key": "s3cret"})).status_code == 200
