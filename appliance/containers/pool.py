"""The warm pool: agent containers started before any project asked for one, each on a fresh workspace
volume, its runner SERVING and its default agent started. A new project claims one instead of waiting
for a container to start; the pool refills in the background, one container at a time, so that it
never takes more than one of the engine's hands from the requests.

A claimed container belongs to its project by name: the lifecycle renames `rcoder-<stack>-pool-<slot>`
to the project's container name, and the engine renames only a container that still has its pool
name, so two claims (of this gateway or of another) never get the same one. The volume keeps its pool
name, and the store binds it to the project. When the gateway starts, the pool containers no project
claimed are removed with their volumes and fresh ones started: one that a claim was renaming when the
gateway stopped is never handed out again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque

from appliance import labels
from appliance.containers.lifecycle import Lifecycle, Pooled
from appliance.engines.engine import Engine
from appliance.errors import ApplianceError
from appliance.runner_client import RunnerClient

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
PRESTART_WAIT_SECONDS = 60.0


class WarmPool:
    def __init__(
        self, size: int, stack: str, engine: Engine, lifecycle: Lifecycle, runners: RunnerClient
    ) -> None:
        self.size = size
        self._stack = stack
        self._engine = engine
        self._lifecycle = lifecycle
        self._runners = runners
        self._ready: deque[Pooled] = deque()
        self._wanted = asyncio.Event()

    @property
    def ready(self) -> int:
        return len(self._ready)

    def take(self) -> Pooled | None:
        """A ready container, which is the caller's from now on (None: none is ready)."""
        pooled = self._ready.popleft() if self._ready else None
        self._wanted.set()
        return pooled

    def give_back(self, pooled: Pooled) -> None:
        self._ready.appendleft(pooled)

    async def discard_unclaimed(self) -> list[str]:
        """Remove the pool containers no project claimed, and the pool volumes no project is bound to:
        at start-up (after the lifecycle has loaded the bindings), before the pool fills again, since
        one may have been half-claimed when the gateway stopped."""
        workloads = self._lifecycle.workloads
        pooled = {labels.STACK: self._stack, labels.POOL: "true"}
        removed = []
        for container in await self._engine.find(pooled):
            if workloads.unclaimed(container):
                await self._engine.remove(container.id)
                removed.append(container.name)
        for volume in await self._engine.volumes(pooled):
            if not workloads.is_bound(volume):
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
        workload = self._lifecycle.workloads.pooled(uuid.uuid4().hex[:10])
        running = await self._lifecycle.start_container(workload.spec)
        try:
            await self._runners.prestarted(running.address, PRESTART_WAIT_SECONDS)
        except BaseException:
            await self._engine.remove(running.container.id)
            raise
        log.info("warm pool: %s ready (%d of %d)", workload.name, self.ready + 1, self.size)
        return Pooled(running.container, workload.spec.volume)
