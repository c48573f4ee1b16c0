"""A Docker Swarm as the container engine (appliance/engines/engine.py's interface), through one of
its managers: each workload is a service with one replica, scheduled on any node that carries the
placement constraints, on an overlay network. docs/scale-out.md is the design; what is built so far is
the engine itself, proven on a real multi-node swarm by `make test-swarm` (tests/swarm/).

What differs from one Docker host, by the interface's methods:
- `Container.id` is the **service** id (a paused service has no task). Its task is replaced only when
  a paused (scaled to zero) service is resumed, and then its address changes too.
- Names: a service name must be a DNS label (63 characters at most), so a workload's name is kept in
  the `rcoder.name` label and its service gets a name derived from it.
- `rename` (a warm-pool claim) cannot rename a service: it changes the `rcoder.name` label, with the
  service's version index, so two claims cannot both win.
- `pause` scales the service to 0 and waits for its task to go (its memory is freed); `unpause` scales
  it back to 1 and waits for the new task to run. (Scaling up while the old task is still being
  removed leaves the service with no task at all under restart condition `none`: seen here.)
- `events`: the manager sees no task events, so the stack's tasks are polled once a second.
- Services have no `no-new-privileges` option on this engine's API (1.41) and their tmpfs mounts take
  only a size and a mode.
- Images: one named with a registry (`<registry>/rcoder/agent:dev`) is resolved to its digest when a
  service is made, as the docker CLI does and the API does not, so every node runs the same bytes; the
  nodes pull it with the credentials the engine was given. An image without a registry must be on every
  node already.
- Templates are built, probed and sealed on the manager's engine as on one host, but their sealed
  image carries the runner bundle (the nodes have no bundle volume), and is pushed to the registry the
  agent image comes from and pinned by its digest there.

This module orchestrates; the services (services.py), the overlays (networks.py), where workspaces
live (placement.py), the images' digests (registry.py) and the node guard (guard.py) are its parts,
each holding the one DockerSdk.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Sequence

import docker.errors
from docker.types import ServiceMode

from appliance import labels as label_keys
from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.engine import (
    Capacity,
    Container,
    ContainerGone,
    ContainerSpec,
    Network,
    TemplateImage,
)
from appliance.engines.runner_bundle import bundle_volume
from appliance.engines.swarm.guard import Guard
from appliance.engines.swarm.networks import Overlays
from appliance.engines.swarm.placement import Placements
from appliance.engines.swarm.registry import Registry
from appliance.engines.swarm.services import POLL_PAUSE_SECONDS, Services, update
from appliance.engines.template_images import TemplateImages, probe_image, seal_image
from appliance.errors import ContainerFailed, EngineUnavailable, NotFound, TemplateRefused

# How often the stack's tasks are read for ones that stopped (the manager has no task events).
POLL_SECONDS = 1.0
# How long a new service's task may take to be scheduled and start running.
START_SECONDS = 60.0
# How many polls (of POLL_SECONDS) apart the attached containers rejoin the workloads' overlays.
REJOIN_POLLS = 30


class SwarmEngine:
    """The swarm through a manager's engine API. `constraints`: where workloads may run (e.g.
    `node.labels.rcoder.agents==true`); `encrypted`: whether overlays encrypt their traffic; `attach`:
    the containers (the gateway's and the proxy's) joined to each workload's overlay; `model_host`:
    the one of them where agents reach the model port (its address on the workload's overlay is kept
    in the service's `rcoder.host-address` label); `registry_login`: the user name and password the
    nodes pull the images from a registry with; `images_registry`: the registry templates' sealed
    images are pushed to (none: no templates)."""

    def __init__(
        self,
        host: str,
        api_timeout: int,
        constraints: list[str],
        encrypted: bool,
        attach: Sequence[str] = (),
        model_host: str = "",
        start_seconds: float = START_SECONDS,
        registry_login: tuple[str, str] | None = None,
        guard_image: str = "",
        images_registry: str = "",
    ) -> None:
        self._sdk = DockerSdk(host, api_timeout)
        self._registry = Registry(self._sdk, registry_login)
        self._services = Services(self._sdk, start_seconds)
        self._overlays = Overlays(self._sdk, attach, model_host, encrypted, start_seconds)
        self._placements = Placements(self._sdk, constraints)
        self._guard = Guard(self._sdk, self._registry, constraints, start_seconds)
        self._guard_image = guard_image
        self._start_seconds = start_seconds
        self._images_registry = images_registry
        self._bundle_image = ""
        # Built and removed on the manager's engine (the nodes get images sealed, from the registry,
        # which keeps a removed one: it deletes nothing).
        images = TemplateImages(self._sdk)
        self.build_image, self.remove_image = images.build, images.remove

    async def ping(self) -> None:
        def ping() -> None:
            swarm = self._sdk.client().info().get("Swarm") or {}
            if not swarm.get("ControlAvailable"):
                raise EngineUnavailable("the Docker engine is not a swarm manager (docker swarm init)")

        await self._sdk.run(ping)

    async def capacity(self) -> Capacity:
        """The largest node that is ready and active: no workload can be given more than it has."""

        def capacity() -> Capacity:
            api = self._sdk.client().api
            nodes = api.nodes(filters={"role": "worker"}) or api.nodes()
            usable = [
                n["Description"]["Resources"]
                for n in nodes
                if n["Status"]["State"] == "ready" and n["Spec"].get("Availability") == "active"
            ]
            if not usable:
                raise EngineUnavailable("the swarm has no node that is ready and active")
            largest = max(usable, key=lambda r: (r["MemoryBytes"], r["NanoCPUs"]))
            return Capacity(cpus=largest["NanoCPUs"] / 1e9, memory_bytes=largest["MemoryBytes"])

        return await self._sdk.run(capacity)

    async def ensure_network(self, name: str, labels: dict[str, str]) -> Network:
        """Nothing to make ahead: each workload gets an overlay of its own when it starts, as overlays
        have no switch that keeps their members apart (docs/scale-out.md §2.3). The attached containers
        rejoin the overlays (`labels`) of the workloads there are, in case they were made anew."""
        await self._sdk.run(self._overlays.rejoin, labels)
        return Network(bridge="", host_address="")

    async def volume_quota_problem(self, driver: str) -> str | None:
        return "the swarm backend does not size workspaces yet (the volume plugin is per node)"

    async def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        """The workspace volumes on any node, as their placement records have them."""
        return await self._sdk.run(self._placements.volumes, labels)

    async def remove_volume(self, name: str) -> None:
        """Forget where the volume lives. The volume itself stays on its node (the manager cannot reach
        a node's volumes): docs/scale-out.md §2.4."""
        await self._sdk.run(self._placements.forget, name)

    async def host_folders(self) -> list[str]:
        """None: a node's folders are not the manager's (engine_config.workspaces: host is refused here)."""
        return []

    async def find(self, labels: dict[str, str]) -> list[Container]:
        return await self._sdk.run(self._services.find, labels)

    async def inspect(self, container_id: str) -> Container:
        return await self._sdk.run(self._services.inspect, container_id)

    async def find_named(self, name: str) -> Container | None:
        found = await self.find({label_keys.NAME: name})
        return found[0] if found else None

    async def rename(self, current: str, new: str) -> Container:
        """Move the `rcoder.name` label from `current` to `new`, at the version read with it."""
        return await self._sdk.run(self._services.rename, current, new)

    async def pause(self, container_id: str) -> None:
        """Scaled to zero, once its task is gone (its memory freed); the attached containers leave its
        overlay."""

        def scale_down() -> None:
            api = self._sdk.client().api
            update(api, api.inspect_service(container_id), mode=ServiceMode("replicated", replicas=0))

        await self._sdk.run(scale_down)
        for _ in range(int(self._start_seconds / POLL_PAUSE_SECONDS)):
            if not await self._sdk.run(
                lambda: self._sdk.client().api.tasks(filters={"service": container_id})
            ):
                await self._sdk.run(self._overlays.leave_paused, container_id)
                return
            await asyncio.sleep(POLL_PAUSE_SECONDS)

    async def unpause(self, container: Container) -> Container:
        """Scaled back to one: a new task, with a new address, once it runs (on its workspace's node,
        or WorkspaceUnavailable at once if that node cannot run it)."""

        def scale_up() -> None:
            api = self._sdk.client().api
            service = api.inspect_service(container.id)
            mounts = service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Mounts") or []
            for volume in (m["Source"] for m in mounts if m.get("Type") == "volume"):
                self._placements.node_of(volume, container.name)
            if network := (service["Spec"].get("Labels") or {}).get(label_keys.NETWORK):
                overlay = self._sdk.client().networks.get(network)
                self._overlays.join(overlay, self._overlays.present(), [service])
                service = api.inspect_service(container.id)  # the model host's address may be new
            update(api, service, mode=ServiceMode("replicated", replicas=1))

        await self._sdk.run(scale_up)
        return await self._services.running(container.id, container.name, self._guard.guarded)

    async def start(self, spec: ContainerSpec) -> Container:
        """Create the service and wait for its task to run; remove the service (and its overlay) if it
        does not. The waiting is done here, not in the engine's few threads."""
        service_id, network, pinned = await self._sdk.run(self._create, spec)
        try:
            running = await self._services.running(service_id, spec.name, self._guard.guarded)
            if not pinned:  # a new workspace, on the node Swarm chose
                await self._sdk.run(self._placements.pin, service_id, spec)
            return running
        except BaseException:
            with contextlib.suppress(docker.errors.APIError):
                await self._sdk.run(self._sdk.client().api.remove_service, service_id)
            await self._overlays.leave(network)
            raise

    def _create(self, spec: ContainerSpec) -> tuple[str, str, bool]:
        """The service, on an overlay of its own: its id, the overlay, and whether it is pinned to the
        node its workspace is on already."""
        if spec.bind_source is not None:
            raise ContainerFailed("a swarm cannot bind host folders: its workspaces are volumes")
        self._services.check_free(spec.name)
        node = self._placements.node_of(spec.volume, spec.name)
        if node is None and not spec.create_volume:
            raise NotFound("volume {volume} does not exist", volume=spec.volume)
        constraints = self._placements.constraints(node)
        image = self._registry.pinned(spec.image)
        network, host_address = self._overlays.open(spec)
        try:
            service_id = self._services.create(spec, image, network, host_address, constraints)
        except BaseException:
            self._overlays.close(network)
            raise
        return service_id, network, node is not None

    async def runner_bundle(self, image: str) -> str:
        """The manager's bundle volume, where templates are probed; sealing copies `image` into them."""
        self._bundle_image = image
        return await self._sdk.run(lambda: bundle_volume(self._sdk.client(), image))

    async def seal_template(
        self, source: str, tag: str, workspace_path: str, labels: dict[str, str], bundle: str
    ) -> TemplateImage:
        """Probed and sealed on the manager, with the runner bundle in; pushed to the images' registry,
        and pinned by the digest it gives."""
        if not self._images_registry:
            raise TemplateRefused("this swarm engine was given no registry to push templates' images to")

        def seal() -> TemplateImage:
            client, named = self._sdk.client(), f"{self._images_registry}/{tag}"
            probed = probe_image(client, source, bundle)
            sealed = seal_image(client, probed, workspace_path, named, labels, self._bundle_image)
            return dataclasses.replace(sealed, image=self._registry.push(named))

        return await self._sdk.run(seal)

    async def isolate(
        self,
        stack: str,
        bridges: Sequence[str],
        open_ports: Sequence[int],
        containers_only: Sequence[int],
        egress: Sequence[str] | None,
    ) -> None:
        """The rules on every node, by the guard; tasks leave their node by its `docker_gwbridge`, and
        reach no node's services (the model port is on the gateway's overlay, not on a node)."""
        await self.guard_nodes(stack, self._guard_image, open_ports, egress)

    async def guard_nodes(
        self, stack: str, image: str, open_ports: Sequence[int], egress: Sequence[str] | None
    ) -> None:
        """Hold the host firewall on every node workloads may run on (guard.py), and wait until it
        holds on each."""
        await self._guard.hold(stack, image, open_ports, egress)

    async def reguard(self) -> None:
        """Make the guard anew if the swarm's nodes changed."""
        await self._guard.follow_nodes()

    async def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
        """Services carrying `labels` whose task stops running (die) or that go (destroy), read every
        POLL_SECONDS, as the manager reports no task events. A service paused (scaled to zero) is
        neither. Every REJOIN_POLLS polls, the attached containers rejoin the overlays (a proxy made
        anew after the gateway started), and the guard denies nodes that joined since it was made."""
        running: dict[str, Container] = {}
        for polls in itertools.count():
            if polls % REJOIN_POLLS == REJOIN_POLLS - 1:
                await self._sdk.run(
                    self._overlays.rejoin, {**labels, label_keys.KIND: label_keys.KIND_NETWORK}
                )
                await self.reguard()
            now = {c.id: c for c in await self.find(labels)}
            for service_id, known in list(running.items()):
                current = now.get(service_id)
                if current is not None and (current.running or current.paused):
                    continue
                del running[service_id]
                if current is None:
                    yield ContainerGone(service_id, "destroy", known.labels, known.name)
                else:
                    exit_code = await self._services.exit_code(service_id)
                    yield ContainerGone(service_id, "die", known.labels, known.name, exit_code)
            running.update({c.id: c for c in now.values() if c.running})
            await asyncio.sleep(POLL_SECONDS)

    async def logs(self, container_id: str) -> str:
        return await self._sdk.run(self._services.logs, container_id)

    async def remove(self, container_id: str) -> None:
        """Remove the service, whatever its state, and then its network; one already gone is not an error."""

        def remove() -> str | None:
            api = self._sdk.client().api
            try:
                network = api.inspect_service(container_id)["Spec"].get("Labels", {}).get(label_keys.NETWORK)
                api.remove_service(container_id)
            except docker.errors.NotFound:
                return None
            return network

        if network := await self._sdk.run(remove):
            self._overlays.leave_later(network)

    async def close(self) -> None:
        """Finish removing networks (for a while), then close the client."""
        await self._overlays.finish_leaving()
        await self._sdk.close()
