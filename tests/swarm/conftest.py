"""The Swarm suite's fixtures (make test-swarm): the swarm scripts/swarm-up made (the local engine as
manager, worker nodes as containers), the Swarm backend on it, and a stack id whose services and
networks are removed after each test."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import docker
import pytest

from appliance.config import Config, DockerConfig
from appliance.containers.engine import ContainerSpec
from appliance.containers.swarm_engine import SwarmEngine
from appliance.containers.workloads import Workloads
from infra.teardown import remove_network
from tests.integration.pulumi_cli import show, toolchain  # noqa: F401 (fixtures)

# Where scripts/swarm-up lets workloads run: its worker nodes.
AGENTS = "node.labels.rcoder.agents==true"


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    client = docker.from_env()
    swarm = client.info()["Swarm"]
    if not swarm.get("ControlAvailable"):
        pytest.skip("the local engine is no swarm manager: run scripts/swarm-up (make test-swarm does)")
    workers = client.nodes.list(filters={"role": "worker"})
    assert len(workers) >= 2, "scripts/swarm-up starts two workers"
    return client


def running_task(engine: docker.DockerClient, service_id: str) -> dict:
    [task] = [t for t in engine.api.tasks(filters={"service": service_id}) if t["DesiredState"] == "running"]
    return task


def node_of(engine: docker.DockerClient, service_id: str) -> str:
    """The host name of the node the service's task runs on."""
    return engine.nodes.get(running_task(engine, service_id)["NodeID"]).attrs["Description"]["Hostname"]


def worker_docker(engine: docker.DockerClient, service_id: str, command: str, *args: str) -> str:
    """`docker <command> <the service's container> <args>` on the engine of the worker it runs on."""
    container = running_task(engine, service_id)["Status"]["ContainerStatus"]["ContainerID"]
    worker = engine.containers.get(node_of(engine, service_id))
    return worker.exec_run(["docker", command, container, *args]).output.decode().strip()


@pytest.fixture
def swarm(engine) -> SwarmEngine:
    # Overlays unencrypted: IPsec between the host and worker containers does not pass here (README).
    return SwarmEngine("", 30, [AGENTS], encrypted=False, start_seconds=90)


@pytest.fixture
def stack(engine) -> Iterator[str]:
    stack = f"sw{uuid.uuid4().hex[:8]}"
    yield stack
    for service in engine.services.list(filters={"label": f"rcoder.stack={stack}"}):
        service.remove()
    for network in engine.networks.list(filters={"label": f"rcoder.stack={stack}"}):
        remove_network(network)
    for config in engine.configs.list(filters={"label": f"rcoder.stack={stack}"}):
        config.remove()


def agent_spec(stack: str, project: str, network: str) -> ContainerSpec:
    """The spec the gateway gives a project's agent, on the project's own overlay."""
    config = Config(docker_config=DockerConfig(stack=stack, memory_limit_bytes=1024**3, cpu_limit=1.0))
    return dataclasses.replace(Workloads(config).agent(project).spec, network=network)
