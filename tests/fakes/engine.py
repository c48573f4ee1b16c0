"""An in-memory container engine (appliance/engines/engine.py's interface): containers "run" at
one address, where the test serves a real runner on RUNNER_PORT."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from appliance.engines.engine import (
    Capacity,
    Container,
    ContainerGone,
    ContainerSpec,
    NameGone,
    NameTaken,
    Network,
)
from appliance.errors import NotFound

# A loopback address of its own (all of 127/8 is loopback), so that a runner of the test can listen on the
# runners' port: one per test process, because gRPC binds with SO_REUSEPORT and two suites running at once
# on one address would take each other's calls.
RUNNER_IP = f"127.77.{os.getpid() // 254 % 256}.{os.getpid() % 254 + 1}"


class FakeEngine:
    def __init__(self, ip: str = RUNNER_IP) -> None:
        self.ip = ip
        self.containers: dict[str, Container] = {}
        self.volume_labels: dict[str, dict[str, str]] = {}
        # The host folders made beneath `folder_root` (engine_config.workspaces: host), as paths.
        self.folder_root = "/srv/rcoder"
        self.folders: set[str] = set()
        self.started: list[ContainerSpec] = []
        self.gone: asyncio.Queue[ContainerGone] = asyncio.Queue()
        self._ids = itertools.count(1)

    async def ping(self) -> None:
        return None

    async def capacity(self) -> Capacity:
        return Capacity(cpus=2.0, memory_bytes=4 * 1024**3)

    async def ensure_network(self, name: str, labels: dict[str, str]) -> Network:
        return Network(f"fake-{name}"[:15], "10.99.0.1")

    async def volume_quota_problem(self, driver: str) -> str | None:
        return None

    async def find(self, labels: dict[str, str]) -> list[Container]:
        return [c for c in self.containers.values() if labels.items() <= c.labels.items()]

    async def inspect(self, container_id: str) -> Container:
        return self.containers[container_id]

    async def find_named(self, name: str) -> Container | None:
        return next((c for c in self.containers.values() if c.name == name), None)

    async def rename(self, current: str, new: str) -> Container:
        container = await self.find_named(current)
        if container is None:
            raise NameGone(current)
        if await self.find_named(new) is not None:
            raise NameTaken(new)
        self.containers[container.id] = dataclasses.replace(container, name=new)
        return self.containers[container.id]

    def _set_status(self, container_id: str, status: str) -> None:
        self.containers[container_id] = dataclasses.replace(self.containers[container_id], status=status)

    async def pause(self, container_id: str) -> None:
        self._set_status(container_id, "paused")

    async def unpause(self, container: Container) -> Container:
        self._set_status(container.id, "running")
        return self.containers[container.id]

    async def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        return {name: own for name, own in self.volume_labels.items() if labels.items() <= own.items()}

    async def remove_volume(self, name: str) -> None:
        self.volume_labels.pop(name, None)

    async def host_folders(self) -> list[str]:
        beneath = (path.removeprefix(f"{self.folder_root}/") for path in self.folders)
        return sorted({path.split("/")[0] for path in beneath})

    async def start(self, spec: ContainerSpec) -> Container:
        if any(c.name == spec.name for c in self.containers.values()):
            raise NameTaken(spec.name)
        if spec.bind_source is not None:
            if not spec.create_volume and spec.bind_source not in self.folders:
                raise NotFound("folder {folder} does not exist", folder=spec.bind_source)
            self.folders.add(spec.bind_source)
        elif not spec.create_volume and spec.volume not in self.volume_labels:
            raise NotFound("volume {volume} does not exist", volume=spec.volume)
        container = Container(
            id=f"fake{next(self._ids)}",
            name=spec.name,
            status="running",
            ip=self.ip,
            labels=dict(spec.labels),
            created=datetime.now(UTC),
        )
        self.containers[container.id] = container
        if spec.bind_source is None:
            self.volume_labels.setdefault(spec.volume, dict(spec.volume_labels))
        self.started.append(spec)
        return container

    async def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
        while True:
            yield await self.gone.get()

    async def logs(self, container_id: str) -> str:
        return "(fake log)"

    async def remove(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    async def close(self) -> None:
        return None
