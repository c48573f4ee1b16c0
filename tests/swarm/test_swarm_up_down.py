"""`make up` and `make down` with RCODER_BACKEND=swarm (scripts/up, scripts/down): the appliance comes up
on the swarm, serves a chat from a warm-pool service on a worker, and goes leaving nothing of its stack
on the manager: no service, network, container, volume or workspace placement record."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid

import docker
import httpx
import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.stack import ROOT, free_port
from tests.swarm.conftest import AGENTS, registry

pytestmark = pytest.mark.timeout(600)


def run(script: str, environment: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["bash", f"scripts/{script}", *args],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def left_of(engine: docker.DockerClient, stack: str) -> dict[str, list[str]]:
    label = {"label": f"rcoder.stack={stack}"}
    return {
        "services": [s.name for s in engine.services.list(filters=label)],
        "containers": [c.name for c in engine.containers.list(all=True, filters=label)],
        "networks": [n.name for n in engine.networks.list(filters=label)],
        "volumes": [v.name for v in engine.volumes.list(filters=label)],
        "placement records": [c.name for c in engine.configs.list(filters=label)],
    }


def test_up_serves_a_chat_from_the_swarm_and_down_leaves_nothing(engine):
    stack = f"up{uuid.uuid4().hex[:8]}"
    api_key = secrets.token_urlsafe(16)
    environment = {
        "RCODER_BACKEND": "swarm",
        "RCODER_STACK": stack,
        "RCODER_API_KEY": api_key,
        "RCODER_PORT": str(free_port()),
        "RCODER_PROXY_PORT": str(proxy_port := free_port()),
        "RCODER_PROXY_CONTROL_PORT": str(free_port()),
        "RCODER_MODEL_PORT": str(free_port()),
        "RCODER_SWARM_CONSTRAINTS": AGENTS,
        "RCODER_SWARM_ENCRYPTED": "false",  # IPsec between this host and its worker containers does not pass
        "RCODER_WARM_POOL_SIZE": "1",
        "RCODER_REGISTRY": registry().address,
        "RCODER_REGISTRY_USERNAME": registry().username,
        "RCODER_REGISTRY_PASSWORD": registry().password,
    }
    try:
        run("up", environment)
        headers = {"x-api-key": api_key}
        with httpx.Client(base_url=f"http://127.0.0.1:{proxy_port}", headers=headers, timeout=60) as client:
            events = read_all(client, chat(client, project_id(), "hello")["session_id"])
        assert events[-1].event == "end_turn"
    finally:
        down = run("down", environment, "--volumes")

    assert not any(left_of(engine, stack).values()), (left_of(engine, stack), down)
