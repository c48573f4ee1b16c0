"""One Docker host as the container engine (appliance/containers/engine.py's interface).

The only module that imports `docker`. The SDK blocks, so every call runs in a worker
thread; Docker's errors and its JSON become the appliance's types here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import docker
import docker.errors
from docker.models.containers import Container as DockerContainer
from docker.types import LogConfig, Mount

from appliance.containers.engine import (
    Capacity,
    Container,
    ContainerGone,
    ContainerSpec,
    NameGone,
    NameTaken,
    Network,
)
from appliance.containers.firewall import Firewall
from appliance.errors import ContainerFailed, EngineUnavailable, NotFound
from appliance.labels import selector

T = TypeVar("T")
LOG_TAIL_LINES = 30
# Each container's own log (json-file): three files of 10 MiB at most, the oldest dropped.
CONTAINER_LOGS = {"max-size": "10m", "max-file": "3"}


def parse_time(text: str) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds, which datetime does not take."""
    if not text:
        return None
    seconds = text.removesuffix("Z").partition(".")[0]
    return datetime.fromisoformat(seconds).replace(tzinfo=UTC)


class DockerEngine:
    def __init__(self, host: str, api_timeout: int) -> None:
        self._host = host
        self._api_timeout = api_timeout
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="docker")

    def _client(self) -> docker.DockerClient:
        """One SDK client per worker thread: the SDK makes no thread-safety promise."""
        client = getattr(self._local, "client", None)
        if client is None:
            if self._host:
                client = docker.DockerClient(base_url=self._host, timeout=self._api_timeout)
            else:
                client = docker.from_env(timeout=self._api_timeout)
            self._local.client = client
        return client

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except docker.errors.NotFound as exc:
            raise NotFound(
                "the Docker engine found no such object: {detail}", detail=str(exc.explanation or exc)
            ) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise NameTaken(str(exc.explanation)) from exc
            raise EngineUnavailable(
                "the Docker engine refused the request: {detail}", detail=str(exc.explanation or exc)
            ) from exc
        except docker.errors.DockerException as exc:
            raise EngineUnavailable("the Docker engine is not reachable: {detail}", detail=str(exc)) from exc

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def ping(self) -> None:
        await self._run(lambda: self._client().ping())

    async def capacity(self) -> Capacity:
        info = await self._run(lambda: self._client().info())
        return Capacity(cpus=float(info["NCPU"]), memory_bytes=int(info["MemTotal"]))

    async def ensure_network(self, name: str, labels: dict[str, str]) -> Network:
        """Create a network for containers when the deployer has not."""

        def ensure() -> Network:
            client = self._client()
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

        return await self._run(ensure)

    async def volume_quota_problem(self, driver: str) -> str | None:
        """A small volume made with the driver says whether it is installed, enabled and working."""

        def probe() -> str | None:
            client = self._client()
            name = f"rcoder-quota-probe-{uuid.uuid4().hex[:12]}"
            try:
                client.volumes.create(name, driver=driver, driver_opts={"size": str(1024**2)})
            except docker.errors.APIError as exc:
                return f"volume driver {driver}: {exc.explanation or exc}"
            client.volumes.get(name).remove(force=True)
            return None

        return await self._run(probe)

    async def find(self, labels: dict[str, str]) -> list[Container]:
        def find() -> list[Container]:
            # The SDK inspects each container it lists: one removed meanwhile is skipped, not an error.
            containers = self._client().containers.list(
                all=True, filters={"label": selector(labels)}, ignore_removed=True
            )
            return [self._info(c) for c in containers]

        return await self._run(find)

    async def inspect(self, container_id: str) -> Container:
        return await self._run(lambda: self._info(self._client().containers.get(container_id)))

    async def find_named(self, name: str) -> Container | None:
        try:
            return await self.inspect(name)
        except NotFound:
            return None

    async def rename(self, current: str, new: str) -> Container:
        # The engine resolves `current` when it takes the request: a container renamed meanwhile is 404.
        def rename() -> Container:
            client = self._client()
            client.api.rename(current, new)
            return self._info(client.containers.get(new))

        try:
            return await self._run(rename)
        except NotFound as exc:
            raise NameGone(current) from exc

    async def pause(self, container_id: str) -> None:
        await self._run(lambda: self._client().api.pause(container_id))

    async def unpause(self, container: Container) -> Container:
        """Thawed where it was: the same address."""
        await self._run(lambda: self._client().api.unpause(container.id))
        return dataclasses.replace(container, status="running")

    async def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        def volumes() -> dict[str, dict[str, str]]:
            found = self._client().volumes.list(filters={"label": selector(labels)})
            return {volume.name: dict(volume.attrs.get("Labels") or {}) for volume in found}

        return await self._run(volumes)

    async def remove_volume(self, name: str) -> None:
        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self._client().volumes.get(name).remove(force=True)

        await self._run(remove)

    async def start(self, spec: ContainerSpec) -> Container:
        """Create and start the container (and its workspace volume); remove it again if that fails."""
        return await self._run(self._start, spec)

    def _start(self, spec: ContainerSpec) -> Container:
        client = self._client()
        try:
            client.volumes.get(spec.volume)
        except docker.errors.NotFound:
            size = {"size": str(spec.volume_bytes)} if spec.volume_bytes else {}
            client.volumes.create(
                spec.volume, driver=spec.volume_driver, driver_opts=size, labels=spec.volume_labels
            )
        try:
            container = client.containers.create(
                spec.image,
                name=spec.name,
                labels=spec.labels,
                environment=spec.environment,
                network=spec.network,
                mounts=[Mount(spec.mount_path, spec.volume, type="volume")],
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

    async def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
        """Containers carrying `labels` that die, are removed or run out of memory, as it happens.

        The SDK's event stream blocks, so it runs in a thread of its own and hands each event over.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        filters = {"type": "container", "event": ["die", "destroy", "oom"], "label": selector(labels)}
        stream = await self._run(lambda: self._client().events(decode=True, filters=filters))

        def read() -> None:
            try:
                for event in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, event)
                loop.call_soon_threadsafe(
                    queue.put_nowait, EngineUnavailable("the engine closed its event stream")
                )
            except Exception as exc:  # handed to the reader below, which raises it there
                loop.call_soon_threadsafe(
                    queue.put_nowait,
                    EngineUnavailable("engine event stream failed: {detail}", detail=str(exc)),
                )

        reader = threading.Thread(target=read, name="docker-events", daemon=True)
        reader.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield _gone(item)
        finally:
            stream.close()

    async def logs(self, container_id: str) -> str:
        return await self._run(lambda: self._logs(self._client().containers.get(container_id)))

    async def remove(self, container_id: str) -> None:
        """Remove the container, whatever its state; a container already gone is not an error."""

        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self._client().containers.get(container_id).remove(force=True)

        await self._run(remove)

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


def _gone(event: dict[str, Any]) -> ContainerGone:
    """Docker's event JSON: {"id", "Action", "Actor": {"Attributes": {labels..., "exitCode"}}}."""
    attributes = dict(event.get("Actor", {}).get("Attributes", {}))
    exit_code = attributes.pop("exitCode", None)
    return ContainerGone(
        container_id=event.get("id", ""),
        action=event.get("Action", "die"),
        labels={key: value for key, value in attributes.items() if key not in ("name", "image")},
        name=attributes.get("name", ""),
        exit_code=int(exit_code) if exit_code is not None else None,
    )
