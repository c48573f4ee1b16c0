"""The appliance on the real Docker engine, started with docker-compose (v1) through pytest-docker.

Everything is created under a stack of this test run's own (label rcoder.stack), and everything
labelled with it is removed at the end, so a run leaves nothing behind and never touches
another stack on the same engine.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/engine-up")
    for image in ("rcoder/gateway:dev", "rcoder/agent:dev"):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.skip(f"image {image} is missing; run scripts/build-images")
    return client


@pytest.fixture(scope="session")
def stack(engine) -> str:
    """This run's stack name; compose reads it (and a free port) from the environment."""
    name = f"test{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RCODER_STACK", name)
        env.setenv("RCODER_PORT", "")
        env.setenv("RCODER_LOG_LEVEL", "DEBUG")
        yield name


@pytest.fixture(scope="session")
def docker_compose_file(stack) -> str:
    return str(ROOT / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_project_name(stack) -> str:
    return f"rcoder-{stack}"


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker-compose"  # Debian's compose v1


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return ["up -d"]  # v1 has no --wait; readiness is polled below


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v --remove-orphans"]


@pytest.fixture(scope="session")
def gateway_url(docker_services, docker_ip, stack, engine) -> str:
    port = docker_services.port_for("gateway", 8087)
    url = f"http://{docker_ip}:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    docker_services.wait_until_responsive(check=healthy, timeout=60, pause=0.3)
    yield url
    # Agent containers and workspaces were made by the gateway, not compose: remove them here,
    # before compose takes the network down. Print what goes, to help a failed run.
    for container in engine.containers.list(all=True, filters={"label": f"rcoder.stack={stack}"}):
        if container.labels.get("rcoder.kind") != "gateway":
            print(f"removing container {container.name}")
            container.remove(force=True)


@pytest.fixture
def client(gateway_url):
    with httpx.Client(base_url=gateway_url, timeout=httpx.Timeout(30, read=60)) as client:
        yield client


@pytest.fixture(scope="session", autouse=True)
def remove_volumes(stack, engine):
    """Remove the stack's workspace volumes once compose is down (they outlive their containers)."""
    yield
    for volume in engine.volumes.list(filters={"label": f"rcoder.stack={stack}"}):
        print(f"removing volume {volume.name}")
        volume.remove(force=True)


def project_id() -> str:
    return f"p{uuid.uuid4().hex[:10]}"
