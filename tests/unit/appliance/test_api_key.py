"""The API key follows the configuration file (as the seed's config watcher does): a gateway serving
HTTP takes the new key within a couple of seconds, with no restart, and keeps the old one when the
file no longer loads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from appliance.config_loader import load_config
from appliance.gateway import Gateway
from appliance.http.app import create_app
from tests.eventually import eventually_async
from tests.fakes.engine import FakeEngine
from tests.stack import free_port


def write_key(path: Path, key: str) -> None:
    path.write_text(f"api_key_auth:\n  enabled: true\n  api_key: {key}\n")


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    config_file = tmp_path / "config.yml"
    write_key(config_file, "first-key")
    cli = {
        "state_dir": str(tmp_path / "state"),
        "engine_config.stack": f"key{uuid.uuid4().hex[:6]}",
        "engine_config.host_firewall": "false",
        "cleanup_config.enabled": "false",
        "warm_pool.size": "0",
    }

    def load():
        return load_config(cli, environ={}, config_file=str(config_file))

    Sanic.test_mode = True
    gateway = Gateway.build(load(), FakeEngine(), reload=load, config_file=config_file)
    app = create_app(gateway, name=f"key{uuid.uuid4().hex}")
    server = await app.create_server(host="127.0.0.1", port=free_port(), return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    port = server.server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, config_file
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def opens(client: httpx.AsyncClient, key: str) -> bool:
    return (await client.get("/agents", headers={"x-api-key": key})).status_code == 200


async def test_a_new_key_in_the_file_replaces_the_old_without_a_restart(served):
    client, config_file = served
    assert await opens(client, "first-key") and not await opens(client, "second-key")

    write_key(config_file, "second-key")
    await eventually_async(lambda: opens(client, "second-key"), 10, "the new key opening the API")
    assert not await opens(client, "first-key")

    config_file.write_text("api_key_auth: [not, a, mapping\n")  # broken: the key stays
    await eventually_async(lambda: opens(client, "second-key"), 3, "the key kept")
    write_key(config_file, "third-key")
    await eventually_async(lambda: opens(client, "third-key"), 10, "a good file read again")
