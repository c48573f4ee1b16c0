"""The warm pool: agent containers started before any project asked for one, each on a fresh workspace
volume, its runner SERVING and its default agent started. A new project claims one instead of waiting
for a container to start; the pool refills in the background, one container at a time, so that it
never takes more than one of the engine's hands from the requests.

A claimed container belongs to its project by name: a claim renames `rcoder-<stack>-pool-<slot>` to
the project's container name, and the engine renames only a container that still has its pool name,
so two claims (of this gateway or of another) never get the same one. The volume keeps its pool name,
and the store binds it to the project. When the gateway starts, the pool containers no project
claimed are removed with their volumes and fresh ones started: one that a claim was renaming when the
gateway stopped is never handed out again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass

from appliance import labels
from appliance.containers.limits import Limits
from appliance.containers.running import RunningContainer, runner_address, start_container
from appliance.containers.workloads import Workload, Workloads
from appliance.engines.engine import Container, Engine, NameGone, NameTaken
from appliance.errors import ApplianceError, ContainerFailed
from appliance.runner_client import RunnerClient
from appliance.store import Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
PRESTART_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Pooled:
    """A ready warm-pool container and its workspace volume."""

    container: Container
    volume: str


@dataclass(frozen=True)
class Claim:
    """A pooled container bound to the workload it was claimed for: renamed to be the project's, its
    volume the project's workspace (agent-sandbox's SandboxClaim)."""

    workload: Workload
    container: Container
    volume: str

    @property
    def running(self) -> RunningContainer:
        return RunningContainer(self.container, runner_address(self.container))


class WarmPool:
    """`size` ready containers; `start_seconds`: how long one may take to be ready."""

    def __init__(
        self,
        size: int,
        stack: str,
        engine: Engine,
        runners: RunnerClient,
        store: Store,
        workloads: Workloads,
        start_seconds: float,
    ) -> None:
        self.size = size
        self._stack = stack
        self._engine = engine
        self._runners = runners
        self._store = store
        self._workloads = workloads
        self._start_seconds = start_seconds
        self._ready: deque[Pooled] = deque()
        self._wanted = asyncio.Event()

    @property
    def ready(self) -> int:
        return len(self._ready)

    def cold_start(self, workload: Workload, limits: Limits) -> bool:
        """Whether the workload must have a container started for it, not a pooled one: it is not a
        project's agent, it runs on a template, it asks for limits of its own, or its project has
        files already."""
        return (
            workload.kind != labels.KIND_AGENT
            or workload.template is not None
            or limits.any
            or self._workloads.has_workspace(workload.key)
        )

    async def claim(self, workload: Workload) -> Claim | None:
        """A pooled container, renamed to be the workload's, its volume bound to the project in the
        store (None: the pool has none ready)."""
        while (pooled := self._take()) is not None:
            try:
                container = await self._engine.rename(pooled.container.name, workload.name)
            except NameGone:
                continue  # another claim got it first
            except NameTaken:
                self._give_back(pooled)
                raise ContainerFailed("container {name} exists already; retry", name=workload.name) from None
            self._workloads.know_workspace(workload.key, pooled.volume)
            await self._store.projects.bind_workspace(workload.key, pooled.volume)
            log.info("project %s claimed pool container %s", workload.key, pooled.container.name)
            return Claim(workload, container, pooled.volume)
        return None

    def _take(self) -> Pooled | None:
        """A ready container, which is the caller's from now on (None: none is ready)."""
        pooled = self._ready.popleft() if self._ready else None
        self._wanted.set()
        return pooled

    def _give_back(self, pooled: Pooled) -> None:
        self._ready.appendleft(pooled)

    async def discard_unclaimed(self) -> list[str]:
        """Remove the pool containers no project claimed, and the pool volumes no project is bound to:
        at start-up (after the lifecycle has loaded the bindings), before the pool fills again, since
        one may have been half-claimed when the gateway stopped."""
        pooled = {labels.STACK: self._stack, labels.POOL: "true"}
        removed = []
        for container in await self._engine.find(pooled):
            if self._workloads.unclaimed(container):
                await self._engine.remove(container.id)
                removed.append(container.name)
        for volume in await self._engine.volumes(pooled):
            if not self._workloads.is_bound(volume):
                await self._engine.remove_volume(volume)
        return removed

    async def run(self) -> None:
        """Keep `size` containers ready, starting one at a time; after a failure, wait before the next."""
        while True:
            while self.ready < self.size:
                try:
                    self._ready.append(await self._start_one())
                except (ApplianceError, OSError) as exc:
                    log.warning("the warm pool could not start a container (%s); trying again shortly", exc)
                    await asyncio.sleep(RETRY_SECONDS)
            self._wanted.clear()
            await self._wanted.wait()

    async def _start_one(self) -> Pooled:
        workload = self._workloads.pooled(uuid.uuid4().hex[:10])
        running = await start_container(self._engine, self._runners, workload.spec, self._start_seconds)
        try:
            await self._runners.prestarted(running.address, PRESTART_WAIT_SECONDS)
        except BaseException:
            await self._engine.remove(running.container.id)
            raise
        log.info("warm pool: %s ready (%d of %d)", workload.name, self.ready + 1, self.size)
        return Pooled(running.container, workload.spec.volume)
