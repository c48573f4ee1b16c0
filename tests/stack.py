"""An appliance of its own on the real Docker engine: docker-compose (v1, through pytest-docker) under a
fresh stack (label rcoder.stack), and everything labelled with it removed when it goes, so a run leaves
nothing behind and never touches another stack on the same engine. The tests and the benchmarks use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import yaml
from docker.models.containers import Container
from pytest_docker.plugin import Services, get_docker_services

from appliance.engines.firewall import Firewall
from infra.teardown import listed_containers, remove_container, remove_network
from infra.teardown import services as services_of  # `services` is the compose project here

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = str(ROOT / "docker-compose.yml")
# The appliance whose agents and desktops are services on the swarm this engine manages.
SWARM_COMPOSE_FILE = str(ROOT / "docker-compose.swarm.yml")
# The images under test: scripts/build-images tags them RCODER_IMAGE_TAG (dev), docker-compose.yml runs that tag.
TAG = os.environ.get("RCODER_IMAGE_TAG", "dev")
# Where the gateway reads the config file run_appliance(config=...) writes.
CONFIG_PATH = "/etc/rcoder/config.yml"


def image(name: str) -> str:
    return f"rcoder/{name}:{TAG}"


IMAGES = tuple(image(name) for name in ("gateway", "agent", "proxy", "desktop", "runner-bundle"))


@dataclass
class Appliance:
    stack: str
    url: str  # the proxy: the appliance's entry point
    gateway_url: str
    api_key: str
    services: Services
    control_port: int  # the proxy's loopback port, where the gateway empties its kept routes
    model_port: int  # where agents reach their model provider through the appliance (0: off)

    def client(self, api_key: str | None = None) -> httpx.Client:
        key = self.api_key if api_key is None else api_key
        return httpx.Client(base_url=self.url, headers={"x-api-key": key}, timeout=httpx.Timeout(30, read=60))

    def gateway(self, engine: docker.DockerClient):
        return engine.containers.get(f"rcoder-{self.stack}-gateway")

    def restart_gateway(self, engine: docker.DockerClient) -> None:
        """Restart the gateway's container, and wait until the appliance answers again."""
        self.gateway(engine).restart(timeout=10)
        wait_healthy(self.url, self.services)


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


def print_logs(found: list[Container]) -> None:
    """What each container said last (an appliance that did not come up says why)."""
    for container in found:
        tail = container.logs(tail=60).decode(errors="replace")
        print(f"--- {container.name} ({container.status}):\n{tail}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def run_appliance(
    engine: docker.DockerClient,
    state_options: dict[str, str] | None = None,
    swarm: bool = False,
    config: dict[str, Any] | None = None,
    **settings: str,
) -> Iterator[Appliance]:
    """An appliance of its own (gateway, network, state) under a fresh stack; removed afterwards.
    `state_options`: the state volume's driver options (e.g. a file system of its own); `config`: the
    gateway's config file (RCODER_CONFIG), for what only the file holds (git_credentials); each a compose
    override, kept beside the stack's name in the temporary directory while it runs. `swarm`: its
    workloads are services on the swarm this engine manages (docker-compose.swarm.yml)."""
    stack = f"test{uuid.uuid4().hex[:8]}"
    compose_files = [SWARM_COMPOSE_FILE if swarm else COMPOSE_FILE]
    if swarm:
        engine.networks.create(
            f"rcoder-{stack}-front", labels={"rcoder.managed": "true", "rcoder.stack": stack}
        )
    override = Path(tempfile.gettempdir()) / f"rcoder-{stack}-state.yml"
    if state_options is not None:
        volumes = {"state": {"driver_opts": state_options}}
        override.write_text(json.dumps({"version": "3.5", "volumes": volumes}))
        compose_files.append(str(override))
    config_file = Path(tempfile.gettempdir()) / f"rcoder-{stack}-config.yml"
    config_override = Path(tempfile.gettempdir()) / f"rcoder-{stack}-config-override.yml"
    if config is not None:
        config_file.write_text(yaml.safe_dump(config))
        # The gateway is root without CAP_DAC_OVERRIDE: it reads the file as "other".
        config_file.chmod(0o644)
        gateway = {
            "environment": {"RCODER_CONFIG": CONFIG_PATH},
            "volumes": [f"{config_file}:{CONFIG_PATH}:ro"],
        }
        config_override.write_text(json.dumps({"version": "3.5", "services": {"gateway": gateway}}))
        compose_files.append(str(config_override))
    api_key = secrets.token_urlsafe(24)
    environment = {
        "RCODER_STACK": stack,
        "RCODER_PORT": str(gateway_port := free_port()),
        "RCODER_PROXY_PORT": str(proxy_port := free_port()),
        "RCODER_PROXY_CONTROL_PORT": str(control_port := free_port()),
        "RCODER_MODEL_PORT": str(free_port()),
        "RCODER_LOG_LEVEL": "DEBUG",
        "RCODER_API_KEY_ENABLED": "true",
        "RCODER_API_KEY": api_key,
        **settings,
    }
    with _environment(environment):
        try:
            with get_docker_services(
                "docker-compose", compose_files, f"rcoder-{stack}", ["up -d"], ["down -v --remove-orphans"]
            ) as services:
                try:
                    url = f"http://127.0.0.1:{proxy_port}"
                    try:
                        wait_healthy(url, services)
                    except Exception:
                        print_logs(containers(engine, label=f"rcoder.stack={stack}"))
                        raise
                    gateway = f"http://127.0.0.1:{gateway_port}"
                    model_port = int(environment["RCODER_MODEL_PORT"])
                    yield Appliance(stack, url, gateway, api_key, services, control_port, model_port)
                finally:
                    # Agent containers and services were made by the gateway, not compose: they go first.
                    for service in services_of(engine, stack):
                        print(f"removing service {service.name}")
                        service.remove()
                    made = containers(engine, label=f"rcoder.stack={stack}")
                    remove([c for c in made if c.labels.get("rcoder.kind") != "gateway"])
        finally:
            for written in (override, config_override, config_file):
                written.unlink(missing_ok=True)
            # Whatever is left: everything, when `up` itself failed half-way.
            remove(containers(engine, label=f"rcoder.stack={stack}"))
            asyncio.run(Firewall(stack).remove())
            for record in engine.configs.list(filters={"label": f"rcoder.stack={stack}"}) if swarm else []:
                print(f"removing the placement record {record.name}")
                record.remove()
            # Templates' images: the appliance keeps them across restarts, a stack of a test never restarts.
            for image in engine.images.list(filters={"reference": f"rcoder/template-{stack}-*"}):
                for tag in image.tags:
                    print(f"removing image {tag}")
                    engine.images.remove(tag, force=True)
            for volume in engine.volumes.list(filters={"label": f"rcoder.stack={stack}"}):
                print(f"removing volume {volume.name}")
                volume.remove(force=True)
            for network in engine.networks.list(filters={"label": f"rcoder.stack={stack}"}):
                print(f"removing network {network.name}")
                remove_network(network)


def containers(engine: docker.DockerClient, **filters: str | list[str]) -> list[Container]:
    """The containers, stopped ones too, that match the engine's filters. The gateway removes containers
    while a test looks (the warm pool, cleanup): one gone between the engine's list and the SDK's inspect
    of it is left out, not a NotFound."""
    return listed_containers(engine, filters)


def remove(found: list[Container]) -> None:
    """Force-remove each container; one the gateway removed meanwhile is already what we wanted."""
    for container in found:
        print(f"removing container {container.name}")
        remove_container(container)


def agent_containers(engine: docker.DockerClient, stack: str, project: str) -> list[Container]:
    """The project's agent container (none or one), found by its name: one claimed from the warm pool
    carries no project label (labels cannot change)."""
    return containers(engine, name=f"^/rcoder-{stack}-agent-{project}$")


def unclaimed(engine: docker.DockerClient, stack: str) -> list:
    """The warm pool's ready containers: pool-labelled, and still named as the pool names them."""
    labels = [f"rcoder.stack={stack}", "rcoder.pool=true"]
    found = engine.containers.list(filters={"label": labels}, ignore_removed=True)
    return [c for c in found if c.name.startswith(f"rcoder-{stack}-pool-")]
