"""The suite's fixtures: the real Docker engine, the built images, and one appliance the tests share
(tests that need other settings start their own with `run_appliance`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.eventually import eventually
from tests.integration.pulumi_cli import show, toolchain  # noqa: F401 (fixtures)
from tests.integration.tmux import Terminal, tmux_terminal
from tests.stack import IMAGES, Appliance, containers, free_port, remove, run_appliance


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/lib/engine-up")
    for name in IMAGES:
        try:
            client.images.get(name)
        except docker.errors.ImageNotFound:
            pytest.skip(f"image {name} is missing; run scripts/build-images")
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
    for kind in ("agent", "desktop", "pod", "files"):
        remove(containers(engine, label=[f"rcoder.stack={stack}", f"rcoder.kind={kind}"]))


@pytest.fixture
def client(appliance) -> Iterator[httpx.Client]:
    with appliance.client() as client:
        yield client


@pytest.fixture
def terminal(appliance, tmp_path) -> Iterator[Terminal]:
    """A tmux terminal whose `rcoder` reaches the suite's appliance (tests/integration/tmux.py)."""
    environment = {
        "RCODER_URL": appliance.url,
        "RCODER_API_KEY": appliance.api_key,
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    with tmux_terminal(environment) as term:
        yield term


def project_id() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def chat(client: httpx.Client, project: str, prompt: str, **extra) -> dict:
    response = client.post("/chat", json={"prompt": prompt, "project_id": project, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["code"] == "0000"
    return body["data"]


def succeeds_within(container, command: list[str], seconds: float, what: str) -> None:
    """Wait until the command succeeds in the container (fail after `seconds`, saying `what`)."""
    eventually(lambda: container.exec_run(command).exit_code == 0, seconds, f"{what} in {container.name}")


def wait_listening(container, port: int) -> None:
    """Wait until something listens on the port inside the container."""
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)"
    succeeds_within(container, ["python3", "-c", probe], 20, f"something listening on {port}")
