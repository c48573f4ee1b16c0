"""The workloads' overlays, one each (overlays have no switch that keeps their members apart), and the
attached containers (the gateway's and the proxy's) joined to them: made when a workload starts, left
while it is paused, removed after it.

The methods that do not await block: the engine runs them through `DockerSdk.run`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import docker.errors
from docker.models.networks import Network as DockerNetwork

from appliance import labels as label_keys
from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.engine import ContainerSpec
from appliance.engines.swarm.services import service_name, update

log = logging.getLogger(__name__)

# How often a removed workload's network is tried again while its task still holds it.
LEAVE_PAUSE_SECONDS = 0.5


@contextlib.contextmanager
def _already_done(words: str) -> Iterator[None]:
    """An engine refusal that says the work is already done (connected, disconnected) is no error."""
    try:
        yield
    except docker.errors.APIError as exc:
        if words not in str(exc.explanation or exc):
            raise


def _all_paused(services: list[dict[str, Any]]) -> bool:
    """Whether there are services and each is paused (replicated, no replicas)."""
    return bool(services) and all(
        (service["Spec"]["Mode"].get("Replicated") or {}).get("Replicas") == 0 for service in services
    )


class Overlays:
    """`attach`: the containers joined to each workload's overlay; `model_host`: the one of them where
    agents reach the model port (its address on the overlay is kept in the service's
    `rcoder.host-address` label); `encrypted`: whether overlays encrypt their traffic."""

    def __init__(
        self, sdk: DockerSdk, attach: Sequence[str], model_host: str, encrypted: bool, start_seconds: float
    ) -> None:
        self._sdk = sdk
        self._attach = tuple(attach)
        self._model_host = model_host
        self._encrypted = encrypted
        self._start_seconds = start_seconds
        self._leaving: set[asyncio.Task[None]] = set()

    def rejoin(self, labels: dict[str, str]) -> None:
        """Attach the attached containers to every overlay carrying `labels` but those of paused
        workloads (unpause joins them), and give the services on it the model host's address there,
        if it changed."""
        client = self._sdk.client()
        present = self.present()
        for network in client.networks.list(
            filters={"label": label_keys.selector(labels), "driver": "overlay"}
        ):
            try:
                services = self._services_on(network.name)
                if _all_paused(services):
                    continue
                self.join(network, present, services)
            except docker.errors.APIError as exc:  # e.g. removed with its workload meanwhile
                log.info("could not rejoin network %s: %s", network.name, exc)

    def present(self) -> list[str]:
        """The attached containers there are (the proxy starts after the gateway: it may not be yet)."""
        client = self._sdk.client()
        return [
            c
            for c in self._attach
            if client.containers.list(all=True, filters={"name": f"^/{c}$"}, sparse=True)
        ]

    def join(self, network: DockerNetwork, present: list[str], services: list[dict[str, Any]]) -> None:
        """Connect the `present` attached containers to the overlay, and give its `services` the model
        host's address on it."""
        for container in present:
            with _already_done("already exists"):
                network.connect(container)
        if self._model_host not in present:
            return
        client = self._sdk.client()
        attached = client.containers.get(self._model_host).attrs["NetworkSettings"]["Networks"]
        address = attached[network.name]["IPAddress"]
        for service in services:
            service_labels = service["Spec"].get("Labels") or {}
            if service_labels.get(label_keys.HOST_ADDRESS) != address:
                update(client.api, service, labels={**service_labels, label_keys.HOST_ADDRESS: address})

    def leave_paused(self, service_id: str) -> None:
        """Detach the attached containers from a paused workload's overlay, once every service on it is
        paused (as `rejoin` leaves it then): a container can hold only so many interfaces, and paused
        workloads pile up. The overlay itself is kept for unpause."""
        try:
            labels = self._sdk.client().api.inspect_service(service_id)["Spec"].get("Labels") or {}
        except docker.errors.NotFound:  # removed meanwhile: its network goes with it
            return
        name = labels.get(label_keys.NETWORK)
        if not name or not _all_paused(self._services_on(name)):
            return
        try:
            network = self._sdk.client().networks.get(name)
        except docker.errors.NotFound:
            return
        self._detach(network)

    def open(self, spec: ContainerSpec) -> tuple[str, str]:
        """The workload's own attachable overlay, with the attached containers on it: its name, and the
        model host's address on it ("" if there is none). Each start makes a new one: the last start's
        may still be on its way out."""
        client = self._sdk.client()
        name = service_name(f"{spec.name}.net.{uuid.uuid4().hex[:8]}")
        labels = {label_keys.MANAGED: "true", label_keys.KIND: label_keys.KIND_NETWORK}
        if label_keys.STACK in spec.labels:
            labels[label_keys.STACK] = spec.labels[label_keys.STACK]
        options = {"encrypted": ""} if self._encrypted else {}
        try:
            network = client.networks.create(
                name, driver="overlay", attachable=True, labels=labels, options=options, scope="swarm"
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            network = client.networks.get(name)
        try:
            for container in self._attach:
                with _already_done("already exists"):
                    network.connect(container)
            host_address = ""
            if self._model_host in self._attach:
                found = client.containers.get(self._model_host).attrs["NetworkSettings"]["Networks"]
                host_address = found[name]["IPAddress"]
        except BaseException:
            self.close(name)
            raise
        return name, host_address

    def close(self, name: str) -> bool:
        """Detach the attached containers and remove the network; False while a task still uses it."""
        try:
            network = self._sdk.client().networks.get(name)
        except docker.errors.NotFound:
            return True
        self._detach(network)
        try:
            network.remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "in use" in str(exc.explanation or exc) or "active endpoints" in str(exc.explanation or exc):
                return False
            raise
        return True

    async def leave(self, name: str) -> None:
        """Remove the network once its last task is gone from every node (tasks take seconds to stop)."""
        for _ in range(int(self._start_seconds / LEAVE_PAUSE_SECONDS)):
            if await self._sdk.run(self.close, name):
                return
            await asyncio.sleep(LEAVE_PAUSE_SECONDS)
        log.warning("network %s is still in use; it is left behind", name)

    def leave_later(self, name: str) -> None:
        """Remove the network in the background, once the removed service's task has let go of it."""
        task = asyncio.get_running_loop().create_task(self.leave(name))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def finish_leaving(self) -> None:
        """Let the networks being removed go (for a while), then stop trying."""
        if self._leaving:
            await asyncio.wait(self._leaving, timeout=10)
        for task in self._leaving:
            task.cancel()

    def _services_on(self, network: str) -> list[dict[str, Any]]:
        return self._sdk.client().api.services(filters={"label": f"{label_keys.NETWORK}={network}"})

    def _detach(self, network: DockerNetwork) -> None:
        for container in self._attach:
            with _already_done("is not connected"), contextlib.suppress(docker.errors.NotFound):
                network.disconnect(container, force=True)
