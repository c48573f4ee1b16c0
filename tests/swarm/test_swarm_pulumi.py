"""`pulumi up` in swarm mode (rcoder:backend swarm) for real, on the test swarm: the toolchain
scripts/pulumi-toolchain builds runs infra/ against this manager; a demo chat through the proxy runs on
a worker node; destroy and infra.teardown leave nothing of the stack on the manager."""

from __future__ import annotations

import secrets
import uuid

import docker
import pytest

from infra import smoke, teardown
from tests.integration.pulumi_cli import Stack
from tests.stack import free_port
from tests.swarm.conftest import AGENTS, node_of, registry

pytestmark = pytest.mark.timeout(3600)


def labelled(engine: docker.DockerClient, stack: str) -> list[str]:
    selector = {"label": [f"rcoder.stack={stack}"]}
    return [
        *(f"service {s.name}" for s in engine.services.list(filters=selector)),
        *(f"container {c.name}" for c in engine.containers.list(all=True, filters=selector)),
        *(f"network {n.name}" for n in engine.networks.list(filters=selector)),
        *(f"placement record {c.name}" for c in engine.configs.list(filters=selector)),
        *(f"volume {v.name}" for v in engine.volumes.list(filters=selector)),
    ]


def test_pulumi_up_in_swarm_mode_serves_a_chat_from_a_worker_and_destroy_leaves_nothing(
    engine, toolchain, show, tmp_path
):
    stack = Stack.create(f"pulsw{uuid.uuid4().hex[:6]}", tmp_path, show)
    api_key = secrets.token_hex(16)
    settings = {
        "port": free_port(),
        "proxyPort": free_port(),
        "proxyControlPort": free_port(),
        "modelPort": free_port(),
        "imageTag": "dev",
        "registry": registry().address,  # where scripts/lib/swarm-up pushed the images
        "registryUsername": registry().username,
        "backend": "swarm",
        "swarmConstraints": AGENTS,
        "swarmEncrypted": "false",  # IPsec between this host and its worker containers does not pass
        "warmPoolSize": "0",
    }
    for key, value in settings.items():
        stack.set_config(key, str(value))
    stack.set_config("apiKey", api_key, secret=True)
    stack.set_config("registryPassword", registry().password, secret=True)
    try:
        stack.pulumi("up", "--yes", "--skip-preview", timeout=1800)
        project = smoke.check(stack.outputs()["url"], api_key)
        [service] = engine.services.list(
            filters={"label": [f"rcoder.stack={stack.name}", f"rcoder.project={project}"]}
        )
        node = node_of(engine, service.id)
    finally:  # each step also when the one before failed, so that nothing is left behind
        teardown.remove_runtime_containers(engine, stack.name)
        destroyed = stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
        leftovers = teardown.remove_leftovers(engine, stack.name)
        stack.pulumi("stack", "rm", "--yes", "--force", timeout=60, check=False)

    assert node.startswith("rcoder-swarm-worker-"), "the agent ran on a worker node"
    assert " deleted" in destroyed
    assert all(item.startswith("placement record ") for item in leftovers), leftovers
    assert labelled(engine, stack.name) == []
