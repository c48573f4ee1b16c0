"""Containers: one agent per project and one desktop per user, started on first use (or claimed from
the warm pool), ready once their runner is SERVING, paused when idle and resumed when needed.

Engine-neutral: it speaks to an `appliance.engines.engine.Engine`, so that another orchestrator
is a sibling backend behind the same calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

from appliance import labels, metrics
from appliance.config import Config
from appliance.containers.limits import Limits
from appliance.containers.pool import Pools
from appliance.containers.running import RunningContainer, runner_address, start_container, wait_ready
from appliance.containers.workloads import PODS_FOLDER, USERS_FOLDER, Workload, Workloads
from appliance.engines.engine import Container, Engine, NameTaken
from appliance.errors import ApplianceError, ContainerFailed, IsolationUnavailable, TooManyRequests
from appliance.messages import Phrase
from appliance.projects import Placements, ProjectRef
from appliance.rate_limits import RateLimit
from appliance.runner_client import RunnerClient
from appliance.store import Store

log = logging.getLogger(__name__)

# When a client refused for the stack's container limit is told to try again.
CONTAINER_RETRY_SECONDS = 30


class Lifecycle:
    """`pools`: the warm pools new projects claim from (appliance/containers/pool.py); `on_gone`: told when a container
    stops serving its workload (removed, died, paused), for the proxy's routes and the model
    credentials its agents were given."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        runners: RunnerClient,
        store: Store,
        workloads: Workloads,
        placements: Placements,
        pools: Pools | None = None,
        on_gone: Callable[[Workload], Awaitable[object]] | None = None,
    ) -> None:
        self._docker = config.engine_config
        self._host_folders = config.host_workspaces is not None
        self._start_seconds = config.engine_config.start_timeout_seconds
        self._max_containers = config.limits.max_containers
        self._starts = RateLimit(config.limits.starts_per_minute, Phrase("new containers"))
        # New containers being started right now (counted against max_containers).
        self._starting = 0
        self._engine = engine
        self._runners = runners
        self._store = store
        self._workloads = workloads
        self._placements = placements
        self._pools = pools or Pools([])
        self._on_gone = on_gone
        # One start at a time per container: two concurrent first chats get one container.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # container name → (when it was looked up, the running container): only running ones are kept.
        self._found: dict[str, tuple[float, RunningContainer]] = {}
        # Containers whose runner answered SERVING since they were found running (not asked again).
        self._ready: set[str] = set()
        # Containers (by name) that requests are working with right now; cleanup leaves them alone.
        self._users: Counter[str] = Counter()
        # container name → when a request last needed it (previews through the proxy included).
        self._needed: dict[str, float] = {}
        # Why containers cannot be isolated from the host (then none is started), if they cannot.
        self._refused: str | None = None

    def refuse_starts(self, problem: str | None) -> None:
        """Start no container while `problem` stands: the containers could not be isolated from the host
        (None: they can)."""
        self._refused = problem

    def check_isolated(self) -> None:
        """Refuse to start a container while containers cannot be isolated from the host."""
        if self._refused is not None:
            raise IsolationUnavailable(
                "no container is started until it can be isolated from the host: {problem}",
                problem=self._refused,
            )

    def last_needed(self, workload: Workload) -> float:
        """When a request last needed the workload's container (time.time(); 0: none since the start)."""
        return self._needed.get(workload.name, 0.0)

    async def load_workspaces(self) -> None:
        """Learn which projects have a workspace already: those in a pod, and those bound to a pool
        volume in the store or whose own volume exists; or, with host folders, those whose folder
        exists (volumes, if there are any from before, are not theirs)."""
        self._placements.load(await self._store.projects.pods())
        if self._host_folders:
            for name in await self._engine.host_folders():
                if name not in (PODS_FOLDER, USERS_FOLDER):
                    self._workloads.know_workspace(name, self._workloads.agent(name).spec.volume)
            return
        for project_id, volume in (await self._store.projects.workspaces()).items():
            self._workloads.know_workspace(project_id, volume)
        selector = {labels.STACK: self._docker.stack, labels.KIND: labels.KIND_WORKSPACE}
        for volume, volume_labels in (await self._engine.volumes(selector)).items():
            if project_id := volume_labels.get(labels.PROJECT):
                self._workloads.know_workspace(project_id, volume)

    @contextlib.asynccontextmanager
    async def using(self, workload: Workload) -> AsyncIterator[None]:
        """Mark the workload's container as in use for the duration (it is not cleaned up meanwhile)."""
        self._users[workload.name] += 1
        try:
            yield
        finally:
            self._users[workload.name] -= 1
            if not self._users[workload.name]:
                del self._users[workload.name]

    def in_use(self, workload: Workload) -> bool:
        return workload.name in self._users

    def serving(self, ref: ProjectRef) -> Workload:
        """The container a project's agent runs in: its own, its user's desktop, or its pod."""
        if ref.user_id:
            return self._workloads.desktop(ref.user_id)
        if (pod := self._placements.pod_of(ref.key)) is not None:
            return self._workloads.pod(pod.pod_id)
        return self._workloads.agent(ref.project_id)

    async def find(self, workload: Workload, resume: bool = True) -> RunningContainer | None:
        """The workload's running container, if there is one (looked up at most every few seconds);
        a paused one is resumed first, unless `resume` is false (then it is not returned)."""
        loop = asyncio.get_running_loop()
        if resume:
            self._needed[workload.name] = time.time()
        cached = self._found.get(workload.name)
        if cached is not None and loop.time() - cached[0] < self._docker.cache_status_ttl_seconds:
            return cached[1]
        container = await self._engine.find_named(workload.name)
        if container is not None and container.paused and resume:
            log.info("resuming paused container %s", container.name)
            container = await self._engine.unpause(container)
        if container is None or not container.running or not container.ip:
            return None
        running = RunningContainer(container, runner_address(container))
        self._found[workload.name] = (loop.time(), running)
        return running

    async def inspect(self, workload: Workload) -> Container | None:
        """The workload's container in whatever state (running, paused, exited), as the engine has it."""
        return await self._engine.find_named(workload.name)

    async def agent_ip(self, project_id: str) -> str | None:
        """The address of the project's running container or pod (for the proxy), or None."""
        running = await self.find(self.serving(ProjectRef(project_id)))
        return running.container.ip if running else None

    async def terminal_target(self, ref: ProjectRef) -> tuple[str, str]:
        """The address of the container serving the project, started or resumed for a terminal, and
        the project's folder in it ("": the whole workspace)."""
        running, _ = await self.ensure(self.serving(ref))
        return running.container.ip or "", self.folder_of(ref)

    def folder_of(self, ref: ProjectRef) -> str:
        """The project's folder in the workspace of the container serving it: its own in a desktop
        home or a pod; "" for a container of its own (all of it)."""
        if ref.user_id:
            return ref.project_id
        if (pod := self._placements.pod_of(ref.key)) is not None:
            return pod.folder
        return ""

    async def desktop_ip(self, user_id: str) -> str | None:
        running = await self.find(self._workloads.desktop(user_id))
        return running.container.ip if running else None

    async def containers(self) -> list[Container]:
        """Every agent and desktop container of this stack, running, paused or not, pooled ones aside."""
        found = await self._engine.find({labels.MANAGED: "true", labels.STACK: self._docker.stack})
        return [c for c in found if self._workloads.of(c.name, c.labels) is not None]

    def forget(self, workload: Workload) -> None:
        """Drop what is known of the workload's container."""
        if (found := self._found.pop(workload.name, None)) is not None:
            self._ready.discard(found[1].container.id)

    async def gone(self, workload: Workload) -> None:
        """The workload's container stopped serving (removed, died or paused): forget it, and tell
        whoever keeps its address or credentials."""
        self.forget(workload)
        if self._on_gone is not None:
            await self._on_gone(workload)

    async def ensure(self, workload: Workload, limits: Limits | None = None) -> tuple[RunningContainer, bool]:
        """The workload's container, started (and waited for) when there is none; and whether it was started.

        A new project claims a container from the warm pool when there is one ready and nothing about
        the request needs another. `limits` apply to a container started now; a running one keeps
        those it was started with.
        """
        limits = limits or Limits()
        # In use from here: the cleanup, waiting for the lock meanwhile, does not remove what it starts.
        async with self.using(workload), self._locks[workload.name]:
            running = await self.find(workload)
            if running is not None and running.container.id in self._ready:
                return running, False
            if running is not None:
                try:
                    await wait_ready(self._engine, self._runners, running, self._start_seconds)
                    self._ready.add(running.container.id)
                    return running, False
                except ContainerFailed:
                    self.forget(workload)  # it died since it was last seen: start a new one
            self.check_isolated()
            # A stopped or half-started leftover goes before a new start.
            if (leftover := await self._engine.find_named(workload.name)) is not None:
                await self._engine.remove(leftover.id)
            running = await self._claim_or_start(workload, limits)
            self._ready.add(running.container.id)
            await self.record(running.container, workload)
            return running, True

    async def _claim_or_start(self, workload: Workload, limits: Limits) -> RunningContainer:
        """A container claimed from the warm pool for the workload, or else a new one; counted by where
        it came from ("pool" or "new") and how that went."""
        pool = self._pools.for_workload(workload, limits)
        source = "new" if pool is None else "pool"
        try:
            await self._admit()
        except ApplianceError:
            metrics.CONTAINER_STARTS.labels(workload.kind, source, "refused").inc()
            raise
        self._starting += 1
        began = time.perf_counter()
        try:
            claim = await pool.claim(workload) if pool is not None else None
            if claim is not None:
                running = claim.running
            else:
                source = "new"
                running = await self._start(workload, limits)
        except BaseException:
            metrics.CONTAINER_STARTS.labels(workload.kind, source, "failed").inc()
            raise
        finally:
            self._starting -= 1
        metrics.CONTAINER_STARTS.labels(workload.kind, source, "started").inc()
        metrics.CONTAINER_START_SECONDS.labels(workload.kind, source).observe(time.perf_counter() - began)
        return running

    async def _admit(self) -> None:
        """Refuse a new container while the state cannot be written, or beyond the stack's limits:
        starts per minute, containers at once."""
        self._store.require_writable()
        self._starts.take("stack")
        running = len(await self.containers()) + self._starting
        if running >= self._max_containers:
            raise TooManyRequests(
                "this appliance runs as many containers as it may ({limit}); "
                "stop a project or a desktop, or retry later",
                retry_after=CONTAINER_RETRY_SECONDS,
                limit=self._max_containers,
            )

    async def _start(self, workload: Workload, limits: Limits) -> RunningContainer:
        memory = limits.memory_bytes or workload.spec.memory_bytes
        swap = limits.memory_swap_bytes
        if swap is not None and memory is not None:
            swap = max(swap, memory)  # memory plus swap below the memory itself: no swap
        spec = dataclasses.replace(
            workload.spec, memory_bytes=memory, cpus=limits.cpus or workload.spec.cpus, memory_swap_bytes=swap
        )
        log.info("starting container %s (%s %s)", spec.name, workload.kind, workload.key)
        try:
            running = await start_container(self._engine, self._runners, spec, self._start_seconds)
        except NameTaken:
            # Another gateway (or a leftover being removed) holds the name; use what is there.
            running = await self.find(workload)
            if running is None:
                raise ContainerFailed(
                    "container {name} exists but is not running; retry", name=spec.name
                ) from None
            await wait_ready(self._engine, self._runners, running, self._start_seconds)
            return running
        if workload.kind == labels.KIND_AGENT:
            self._workloads.know_workspace(workload.key, spec.volume)
        return running

    async def record(self, container: Container, workload: Workload) -> None:
        """Note a running container in the store."""
        kind = workload.kind
        await self._store.containers.record(
            {
                "container_id": container.id,
                "container_name": container.name,
                "kind": kind,
                "project_id": workload.key if kind == labels.KIND_AGENT else None,
                "user_id": workload.key if kind == labels.KIND_DESKTOP else None,
                "pod_id": workload.key if kind == labels.KIND_POD else None,
                "image": workload.spec.image,
                "address": runner_address(container) if container.ip else None,
            }
        )

    def needed_since(self, workload: Workload, when: float) -> bool:
        """Whether a request is using the workload's container, or needed it after `when` (time.time())."""
        return self.in_use(workload) or self.last_needed(workload) > when

    async def pause(self, workload: Workload, idle_at: float) -> bool:
        """Freeze the workload's running container (its memory kept); False if it was not running, or
        a request needed it after `idle_at`, when the cleanup found it idle."""
        async with self._locks[workload.name]:
            if self.needed_since(workload, idle_at):
                return False
            container = await self._engine.find_named(workload.name)
            if container is None or not container.running:
                return False
            await self._engine.pause(container.id)
            await self.gone(workload)
            if container.ip:
                # Its connection would time out while frozen; a new one is made on resume.
                await self._runners.forget(runner_address(container))
            return True

    async def stop(self, workload: Workload, idle_at: float | None = None) -> bool:
        """Remove the workload's container (its volume stays); False if there was none, or (for the
        cleanup) a request needed it after `idle_at`, when the cleanup found it idle."""
        async with self._locks[workload.name]:
            if idle_at is not None and self.needed_since(workload, idle_at):
                return False
            self.forget(workload)
            container = await self._engine.find_named(workload.name)
            if container is None:
                return False
            await self._engine.remove(container.id)
            await self.gone(workload)
            if container.ip:
                await self._runners.forget(runner_address(container))
            await self._store.containers.removed(container.id)
            return True
