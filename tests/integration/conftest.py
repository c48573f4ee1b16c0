"""The appliance on the real Docker engine, started with docker-compose (v1) through pytest-docker.

Each appliance runs under a stack of its own (label rcoder.stack), and everything labelled with
it is removed when it goes, so a run leaves nothing behind and never touches another stack on
the same engine. The suite shares one appliance; tests that need other settings start their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest
from pytest_docker.plugin import Services, get_docker_services

from appliance.containers.firewall import Firewall
from tests.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = str(ROOT / "docker-compose.yml")
# The images under test: scripts/build-images tags them RCODER_IMAGE_TAG (dev), docker-compose.yml runs that tag.
TAG = os.environ.get("RCODER_IMAGE_TAG", "dev")


def image(name: str) -> str:
    return f"rcoder/{name}:{TAG}"


IMAGES = tuple(image(name) for name in ("gateway", "agent", "proxy", "desktop"))


@dataclass
class Appliance:
    stack: str
    url: str  # the proxy: the appliance's entry point
    gateway_url: str
    api_key: str
    services: Services

    def client(self, api_key: str | None = None) -> httpx.Client:
        key = self.api_key if api_key is None else api_key
        return httpx.Client(base_url=self.url, headers={"x-api-key": key}, timeout=httpx.Timeout(30, read=60))

    def gateway(self, engine: docker.DockerClient):
        return engine.containers.get(f"rcoder-{self.stack}-gateway")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """docker-compose reads its settings from the environment, for `up` and `down` alike."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_healthy(url: str, services: Services) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    services.wait_until_responsive(check=healthy, timeout=60, pause=0.3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def run_appliance(engine: docker.DockerClient, **settings: str) -> Iterator[Appliance]:
    """An appliance of its own (gateway, network, state) under a fresh stack; removed afterwards."""
    stack = f"test{uuid.uuid4().hex[:8]}"
    api_key = secrets.token_urlsafe(24)
    environment = {
        "RCODER_STACK": stack,
        "RCODER_PORT": str(gateway_port := free_port()),
        "RCODER_PROXY_PORT": str(proxy_port := free_port()),
        "RCODER_LOG_LEVEL": "DEBUG",
        "RCODER_API_KEY_ENABLED": "true",
        "RCODER_API_KEY": api_key,
        **settings,
    }
    with _environment(environment):
        try:
            with get_docker_services(
                "docker-compose", COMPOSE_FILE, f"rcoder-{stack}", ["up -d"], ["down -v --remove-orphans"]
            ) as services:
                try:
                    url = f"http://127.0.0.1:{proxy_port}"
                    wait_healthy(url, services)
                    yield Appliance(stack, url, f"http://127.0.0.1:{gateway_port}", api_key, services)
                finally:
                    # Agent containers were made by the gateway, not compose: they go before the network.
                    for container in engine.containers.list(
                        all=True, filters={"label": f"rcoder.stack={stack}"}
                    ):
                        if container.labels.get("rcoder.kind") != "gateway":
                            print(f"removing container {container.name}")
                            container.remove(force=True)
        finally:
            asyncio.run(Firewall(stack).remove())
            for volume in engine.volumes.list(filters={"label": f"rcoder.stack={stack}"}):
                print(f"removing volume {volume.name}")
                volume.remove(force=True)
            for network in engine.networks.list(filters={"label": f"rcoder.stack={stack}"}):
                print(f"removing network {network.name}")
                network.remove()


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/engine-up")
    for image in IMAGES:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.skip(f"image {image} is missing; run scripts/build-images")
    return client


@pytest.fixture(scope="session")
def model_port() -> int:
    """The one host port the suite's appliance opens to its containers: the fake model server's."""
    return free_port()


@pytest.fixture(scope="session")
def appliance(engine, model_port) -> Iterator[Appliance]:
    with run_appliance(engine, RCODER_HOST_OPEN_PORTS=str(model_port)) as running:
        yield running


@pytest.fixture(scope="session")
def stack(appliance) -> str:
    return appliance.stack


@pytest.fixture(autouse=True)
def remove_containers_after_each_test(request):
    """Each test's agent and desktop containers go when it ends, so that they do not pile up on two cores."""
    if "appliance" not in request.fixturenames:
        yield
        return
    stack, engine = request.getfixturevalue("stack"), request.getfixturevalue("engine")
    yield
    for kind in ("agent", "desktop"):
        labels = [f"rcoder.stack={stack}", f"rcoder.kind={kind}"]
        for container in engine.containers.list(all=True, filters={"label": labels}):
            container.remove(force=True)


@pytest.fixture
def client(appliance) -> Iterator[httpx.Client]:
    with appliance.client() as client:
        yield client


def project_id() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def chat(client: httpx.Client, project: str, prompt: str, **extra) -> dict:
    response = client.post("/chat", json={"prompt": prompt, "project_id": project, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["code"] == "0000"
    return body["data"]


def agent_containers(engine: docker.DockerClient, stack: str, project: str) -> list:
    labels = [f"rcoder.stack={stack}", f"rcoder.project={project}", "rcoder.kind=agent"]
    return engine.containers.list(all=True, filters={"label": labels})


def succeeds_within(container, command: list[str], seconds: float, what: str) -> None:
    """Wait until the command succeeds in the container (fail after `seconds`, saying `what`)."""
    eventually(lambda: container.exec_run(command).exit_code == 0, seconds, f"{what} in {container.name}")


def wait_listening(container, port: int) -> None:
    """Wait until something listens on the port inside the container."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)"
    succeeds_within(container, ["python3", "-c", probe], 20, f"something listening on {port}")
