"""The Swarm suite's fixtures (make test-swarm): the swarm scripts/lib/swarm-up made (the local engine as
manager, worker nodes as containers, a registry the nodes pull from), the Swarm backend on it, and a
stack id whose services and networks are removed after each test."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from appliance.config import Config, EngineConfig
from appliance.containers.workloads import Workloads
from appliance.engines.engine import ContainerSpec
from appliance.engines.swarm import SwarmEngine
from infra.teardown import remove_leftovers
from tests.integration.pulumi_cli import show, toolchain  # noqa: F401 (fixtures)

# Where scripts/lib/swarm-up lets workloads run: its worker nodes.
AGENTS = "node.labels.rcoder.agents==true"
REGISTRY_PASSWORD = Path(__file__).resolve().parents[2] / ".build" / "registry" / "password"


@dataclasses.dataclass(frozen=True)
class Registry:
    address: str
    username: str
    password: str

    def image(self, name: str) -> str:
        """Where scripts/lib/swarm-up pushed rcoder/<name>:dev."""
        return f"{self.address}/rcoder/{name}:dev"

    @property
    def login(self) -> tuple[str, str]:
        return self.username, self.password


@functools.cache
def registry() -> Registry:
    """The registry scripts/lib/swarm-up runs on the manager (scripts/lib/registry-up), and its account."""
    container = docker.from_env().containers.get("rcoder-registry")
    return Registry(container.labels["rcoder.registry"], "rcoder", REGISTRY_PASSWORD.read_text().strip())


def appliance_settings() -> dict[str, str]:
    """The appliance on this swarm: its workloads on the workers, their images from the registry, no
    warm pool. Overlays unencrypted: IPsec between this host and its worker containers does not pass
    here."""
    return {
        "RCODER_SWARM_CONSTRAINTS": AGENTS,
        "RCODER_SWARM_ENCRYPTED": "false",
        "RCODER_WARM_POOL_SIZE": "0",
        "RCODER_AGENT_IMAGE": registry().image("agent"),
        "RCODER_DESKTOP_IMAGE": registry().image("desktop"),
        "RCODER_REGISTRY_USERNAME": registry().username,
        "RCODER_REGISTRY_PASSWORD": registry().password,
        "RCODER_NODE_GUARD_IMAGE": registry().image("gateway"),
    }


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    client = docker.from_env()
    swarm = client.info()["Swarm"]
    if not swarm.get("ControlAvailable"):
        pytest.skip("the local engine is no swarm manager: run scripts/lib/swarm-up (make test-swarm does)")
    workers = client.nodes.list(filters={"role": "worker"})
    assert len(workers) >= 2, "scripts/lib/swarm-up starts two workers"
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
def no_docker_login(monkeypatch, tmp_path_factory) -> None:
    """Engines the tests make read an empty docker config, not the manager's (logged in to the registry
    by scripts/lib/registry-up): registry credentials come from what the engine is given, as in the
    gateway."""
    config = tmp_path_factory.mktemp("docker-config")
    (config / "config.json").write_text('{"auths": {}}')  # where none is, the SDK reads ~/.docker's
    monkeypatch.setenv("DOCKER_CONFIG", str(config))


@pytest.fixture
def swarm(engine, no_docker_login) -> SwarmEngine:
    # Overlays unencrypted: IPsec between the host and worker containers does not pass here (docs/scale-out.md).
    return SwarmEngine("", 30, [AGENTS], encrypted=False, start_seconds=90, registry_login=registry().login)


@pytest.fixture
def stack(engine) -> Iterator[str]:
    stack = f"sw{uuid.uuid4().hex[:8]}"
    yield stack
    remove_leftovers(engine, stack)


def agent_spec(stack: str, project: str, network: str) -> ContainerSpec:
    """The spec the gateway gives a project's agent (its image from the registry), on the project's own
    overlay."""
    engine_config = EngineConfig(
        stack=stack, memory_limit_bytes=1024**3, cpu_limit=1.0, agent_image=registry().image("agent")
    )
    config = Config(engine_config=engine_config)
    return dataclasses.replace(Workloads(config).agent(project).spec, network=network)
