"""One Docker host as the container engine (appliance/engines/engine.py's interface).

With docker_sdk.py and the Swarm backend, the only modules that import `docker`. The SDK blocks, so
every call runs in one of docker_sdk.py's worker threads; Docker's JSON becomes the appliance's types
here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence

import docker.errors
from docker.models.containers import Container as DockerContainer
from docker.types import LogConfig, Mount

from appliance.engines.docker.events import container_events
from appliance.engines.docker.folders import Folders, missing_bind_source
from appliance.engines.docker_sdk import CONTAINER_LOGS, LOG_TAIL_LINES, DockerSdk, parse_time
from appliance.engines.engine import (
    Capacity,
    Container,
    ContainerGone,
    ContainerSpec,
    HostFolders,
    NameGone,
    Network,
    TemplateImage,
)
from appliance.engines.firewall import Firewall
from appliance.engines.runner_bundle import bundle_mounts, bundle_start, bundle_volume
from appliance.engines.template_images import TemplateImages, probe_image, seal_image
from appliance.errors import ContainerFailed, NotFound
from appliance.labels import selector


class DockerEngine:
    """The engine at `host`; `folders`: where workspaces are host folders, if they are."""

    def __init__(self, host: str, api_timeout: int, folders: HostFolders | None = None) -> None:
        self._sdk = DockerSdk(host, api_timeout)
        self._folders = Folders(self._sdk, folders) if folders is not None else None
        images = TemplateImages(self._sdk)
        self.build_image, self.remove_image = images.build, images.remove

    async def close(self) -> None:
        await self._sdk.close()

    async def ping(self) -> None:
        await self._sdk.run(lambda: self._sdk.client().ping())

    async def capacity(self) -> Capacity:
        info = await self._sdk.run(lambda: self._sdk.client().info())
        return Capacity(cpus=float(info["NCPU"]), memory_bytes=int(info["MemTotal"]))

    async def ensure_network(self, name: str, labels: dict[str, str]) -> Network:
        """Create a network for containers when the deployer has not."""

        def ensure() -> Network:
            client = self._sdk.client()
            found = [n for n in client.networks.list(names=[name]) if n.name == name]
            if found:
                network = found[0]
            else:
                # No traffic between the containers on it: one project cannot reach another's.
                options = {"com.docker.network.bridge.enable_icc": "false"}
                network = client.networks.create(name, driver="bridge", labels=labels, options=options)
                network.reload()
            options = network.attrs.get("Options") or {}
            bridge = options.get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"
            [subnet, *_] = network.attrs["IPAM"]["Config"]
            return Network(bridge, subnet["Gateway"])

        return await self._sdk.run(ensure)

    async def volume_quota_problem(self, driver: str) -> str | None:
        """A small volume made with the driver says whether it is installed, enabled and working."""

        def probe() -> str | None:
            client = self._sdk.client()
            name = f"rcoder-quota-probe-{uuid.uuid4().hex[:12]}"
            try:
                client.volumes.create(name, driver=driver, driver_opts={"size": str(1024**2)})
            except docker.errors.APIError as exc:
                return f"volume driver {driver}: {exc.explanation or exc}"
            client.volumes.get(name).remove(force=True)
            return None

        return await self._sdk.run(probe)

    async def find(self, labels: dict[str, str]) -> list[Container]:
        def find() -> list[Container]:
            # The SDK inspects each container it lists: one removed meanwhile is skipped, not an error.
            containers = self._sdk.client().containers.list(
                all=True, filters={"label": selector(labels)}, ignore_removed=True
            )
            return [self._info(c) for c in containers]

        return await self._sdk.run(find)

    async def inspect(self, container_id: str) -> Container:
        return await self._sdk.run(lambda: self._info(self._sdk.client().containers.get(container_id)))

    async def find_named(self, name: str) -> Container | None:
        try:
            return await self.inspect(name)
        except NotFound:
            return None

    async def rename(self, current: str, new: str) -> Container:
        # The engine resolves `current` when it takes the request: a container renamed meanwhile is 404.
        def rename() -> Container:
            client = self._sdk.client()
            client.api.rename(current, new)
            return self._info(client.containers.get(new))

        try:
            return await self._sdk.run(rename)
        except NotFound as exc:
            raise NameGone(current) from exc

    async def pause(self, container_id: str) -> None:
        await self._sdk.run(lambda: self._sdk.client().api.pause(container_id))

    async def unpause(self, container: Container) -> Container:
        """Thawed where it was: the same address."""
        await self._sdk.run(lambda: self._sdk.client().api.unpause(container.id))
        return dataclasses.replace(container, status="running")

    async def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        def volumes() -> dict[str, dict[str, str]]:
            found = self._sdk.client().volumes.list(filters={"label": selector(labels)})
            return {volume.name: dict(volume.attrs.get("Labels") or {}) for volume in found}

        return await self._sdk.run(volumes)

    async def remove_volume(self, name: str) -> None:
        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self._sdk.client().volumes.get(name).remove(force=True)

        await self._sdk.run(remove)

    async def host_folders(self) -> list[str]:
        return await self._sdk.run(self._folders.names) if self._folders is not None else []

    async def start(self, spec: ContainerSpec) -> Container:
        """Create and start the container (and its workspace volume or folder); remove it again if that fails."""
        return await self._sdk.run(self._start, spec)

    def _start(self, spec: ContainerSpec) -> Container:
        client = self._sdk.client()
        if spec.bind_source is None:
            self._ensure_volume(client, spec)
            mount = Mount(spec.mount_path, spec.volume, type="volume")
        else:
            mount = Mount(spec.mount_path, spec.bind_source, type="bind")
        try:
            container = self._create(client, spec, mount)
        except docker.errors.APIError as exc:
            # A host folder is known to be missing only when Docker refuses to bind it.
            if spec.bind_source is None or not missing_bind_source(exc):
                raise
            if not spec.create_volume or self._folders is None:
                raise NotFound("folder {folder} does not exist", folder=spec.bind_source) from None
            self._folders.make(spec.bind_source)
            container = self._create(client, spec, mount)
        try:
            container.start()
            container.reload()
        except docker.errors.APIError as exc:
            logs = self._logs(container)
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            raise ContainerFailed(
                "container {name} did not start: {detail}\n{logs}",
                name=spec.name,
                detail=exc.explanation,
                logs=logs,
            ) from exc
        return self._info(container)

    @staticmethod
    def _ensure_volume(client: docker.DockerClient, spec: ContainerSpec) -> None:
        try:
            client.volumes.get(spec.volume)
        except docker.errors.NotFound:
            if not spec.create_volume:
                raise NotFound("volume {volume} does not exist", volume=spec.volume) from None
            size = {"size": str(spec.volume_bytes)} if spec.volume_bytes else {}
            client.volumes.create(
                spec.volume, driver=spec.volume_driver, driver_opts=size, labels=spec.volume_labels
            )

    @staticmethod
    def _create(client: docker.DockerClient, spec: ContainerSpec, mount: Mount) -> DockerContainer:
        try:
            return client.containers.create(
                spec.image,
                list(spec.command) or None,
                name=spec.name,
                labels=spec.labels,
                environment=spec.environment,
                network=spec.network,
                mounts=[mount, *bundle_mounts(spec)],
                user=spec.user or None,
                **bundle_start(spec),
                mem_limit=spec.memory_bytes,
                memswap_limit=spec.memory_swap_bytes or spec.memory_bytes,
                nano_cpus=int(spec.cpus * 1e9),
                pids_limit=spec.pids_limit,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges:true"],
                read_only=True,
                tmpfs=spec.tmpfs,
                shm_size=spec.shm_bytes,
                # What a container prints is kept, but bounded: its newest 30 MiB (an agent that logs
                # without end cannot fill the host's disk with it).
                log_config=LogConfig(type=LogConfig.types.JSON, config=CONTAINER_LOGS),
                detach=True,
            )
        except docker.errors.ImageNotFound as exc:
            raise ContainerFailed(
                "image {image} is missing on the engine; build it with scripts/build-images", image=spec.image
            ) from exc

    async def runner_bundle(self, image: str) -> str:
        return await self._sdk.run(lambda: bundle_volume(self._sdk.client(), image))

    async def seal_template(
        self, source: str, tag: str, workspace_path: str, labels: dict[str, str], bundle: str
    ) -> TemplateImage:
        def seal() -> TemplateImage:
            client = self._sdk.client()
            return seal_image(client, probe_image(client, source, bundle), workspace_path, tag, labels)

        return await self._sdk.run(seal)

    def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
        """Containers carrying `labels` that die, are removed or run out of memory, as it happens."""
        return container_events(self._sdk, labels)

    async def logs(self, container_id: str) -> str:
        return await self._sdk.run(lambda: self._logs(self._sdk.client().containers.get(container_id)))

    async def remove(self, container_id: str) -> None:
        """Remove the container, whatever its state; a container already gone is not an error."""

        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self._sdk.client().containers.get(container_id).remove(force=True)

        await self._sdk.run(remove)

    async def isolate(
        self,
        stack: str,
        bridges: Sequence[str],
        open_ports: Sequence[int],
        containers_only: Sequence[int],
        egress: Sequence[str] | None,
    ) -> None:
        """The rules on this host, where the engine runs (the gateway runs here with NET_ADMIN)."""
        await Firewall(stack).install(bridges, (*open_ports, *containers_only), egress, containers_only)

    def _info(self, container: DockerContainer) -> Container:
        created = container.attrs.get("Created", "")
        # The appliance's containers are on one network each.
        networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
        return Container(
            id=container.id,
            name=container.name,
            status=container.status,
            ip=ip,
            labels=dict(container.labels),
            created=parse_time(created),
        )

    @staticmethod
    def _logs(container: DockerContainer) -> str:
        try:
            return container.logs(tail=LOG_TAIL_LINES).decode(errors="replace")
        except docker.errors.APIError:
            return "(no logs)"
