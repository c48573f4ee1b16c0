"""The warm pools: agent containers started before any project asked for one, each on a fresh workspace
volume, its runner SERVING and its default agent started; one pool for the agent image and one for
each template that asks for one (appliance/templates.py). A new project claims one of its own kind
instead of waiting for a container to start; the pools refill in the background, one container at a
time between them all, so that they never take more than one of the engine's hands from the requests.
Between them they hold at most `limits.max_containers` containers, shared in proportion to the sizes
they ask for.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from appliance import labels
from appliance.containers.limits import Limits
from appliance.containers.running import RunningContainer, runner_address, start_container
from appliance.containers.workloads import Workload, Workloads
from appliance.engines.engine import Container, Engine, NameGone, NameTaken
from appliance.errors import ApplianceError, ContainerFailed, TemplateNotReady
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
        template: str | None = None,
        starting: asyncio.Lock | None = None,
    ) -> None:
        """`template`: the template its containers are made of (None: the agent image); `starting`:
        held while one starts, shared by the pools."""
        self.size = size
        self.template = template
        self._starting = starting or asyncio.Lock()
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
        project's agent, it asks for limits of its own, or its project has files already."""
        return workload.kind != labels.KIND_AGENT or limits.any or self._workloads.has_workspace(workload.key)

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
        """Keep `size` containers ready, starting one at a time; after a failure, wait before the next
        (quietly while its template is not ready yet)."""
        while True:
            while self.ready < self.size:
                try:
                    async with self._starting:
                        self._ready.append(await self._start_one())
                except TemplateNotReady:
                    await asyncio.sleep(RETRY_SECONDS)
                except (ApplianceError, OSError) as exc:
                    log.warning("the warm pool could not start a container (%s); trying again shortly", exc)
                    await asyncio.sleep(RETRY_SECONDS)
            self._wanted.clear()
            await self._wanted.wait()

    async def _start_one(self) -> Pooled:
        workload = self._workloads.pooled(uuid.uuid4().hex[:10], self.template)
        running = await start_container(self._engine, self._runners, workload.spec, self._start_seconds)
        try:
            await self._runners.prestarted(running.address, PRESTART_WAIT_SECONDS)
        except BaseException:
            await self._engine.remove(running.container.id)
            raise
        log.info("warm pool: %s ready (%d of %d)", workload.name, self.ready + 1, self.size)
        return Pooled(running.container, workload.spec.volume)


class Pools:
    """The warm pools, by template (None: the agent image's)."""

    def __init__(self, pools: list[WarmPool]) -> None:
        self._pools = {pool.template: pool for pool in pools}

    @classmethod
    def sized(
        cls, wanted: dict[str | None, int], budget: int, make: Callable[[int, str | None], WarmPool]
    ) -> Pools:
        """Pools of the sizes `wanted` (by template), scaled down in proportion when they would hold
        more than `budget` between them; `make(size, template)` makes one."""
        sizes = fair_sizes(wanted, budget)
        return cls([make(size, template) for template, size in sizes.items() if size > 0])

    def __iter__(self) -> Iterator[WarmPool]:
        return iter(self._pools.values())

    @property
    def ready(self) -> int:
        return sum(pool.ready for pool in self._pools.values())

    async def discard_unclaimed(self) -> list[str]:
        """What the pools of a previous run left unclaimed, removed (WarmPool.discard_unclaimed)."""
        pool = next(iter(self._pools.values()), None)
        return await pool.discard_unclaimed() if pool is not None else []

    def of(self, template: str | None) -> WarmPool | None:
        return self._pools.get(template)

    def for_workload(self, workload: Workload, limits: Limits) -> WarmPool | None:
        """The pool a new container of the workload may come from (None: it is started for it)."""
        pool = self._pools.get(workload.template)
        return pool if pool is not None and not pool.cold_start(workload, limits) else None


def fair_sizes(wanted: dict[str | None, int], budget: int) -> dict[str | None, int]:
    """`wanted`, or, when it asks for more than `budget` in all, each share scaled down (rounded down,
    what is left going to the largest asks first)."""
    total = sum(wanted.values())
    if total <= budget:
        return dict(wanted)
    sizes = {key: size * budget // total for key, size in wanted.items()}
    left = budget - sum(sizes.values())
    for key in sorted(wanted, key=lambda key: -wanted[key])[:left]:
        sizes[key] += 1
    return sizes
