"""The gateway's core without Docker: a fake engine whose containers all "run" at one loopback
address, where a real runner (with the real demo agent) serves the runners' port."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections.abc import AsyncIterator

import pytest

from appliance.config import Config
from appliance.config_loader import load_config
from appliance.containers.workloads import prestart_template
from appliance.gateway import Gateway
from rcoder_rpc.contract import RUNNER_PORT
from runner.projects import Projects
from runner.server import create_server, prestart
from tests.fakes.engine import RUNNER_IP, FakeEngine


def core_config(tmp_path, **settings: str) -> Config:
    return load_config(
        {
            "state_dir": str(tmp_path / "state"),
            # One stack per test (a gateway started again in the same test finds its containers).
            "engine_config.stack": f"unit{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:6]}",
            "engine_config.host_firewall": "false",
            "engine_config.start_timeout_seconds": "5",
            "cleanup_config.enabled": "false",
            "warm_pool.size": "0",
            "agents.demo.command": sys.executable,
            "agents.demo.args": ["-m", "runner.demo_agent"],
            **settings,
        },
        environ={},
    )


@pytest.fixture
async def runner(tmp_path, monkeypatch) -> AsyncIterator[Projects]:
    """The runner every fake container is: on the fake engine's address and the runners' port."""
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    projects = Projects(tmp_path / "workspace", per_project_dirs=True)
    (tmp_path / "workspace").mkdir()
    server, _, health = await create_server(f"{RUNNER_IP}:{RUNNER_PORT}", projects)
    # As in a container: the runner says whether it started an agent at boot (this one, shared by
    # every fake container, starts none).
    template = prestart_template(core_config(tmp_path))
    reporting = asyncio.create_task(prestart(projects, template, "demo", tmp_path / "homes", health))
    yield projects
    reporting.cancel()
    await projects.close()
    await server.stop(grace=None)


@pytest.fixture
async def gateway(tmp_path, runner) -> AsyncIterator[Gateway]:
    gateway = Gateway.build(core_config(tmp_path), FakeEngine())
    await gateway.start()
    yield gateway
    await gateway.close()
