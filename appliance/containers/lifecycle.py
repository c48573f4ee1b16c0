"""Containers: one agent per project and one desktop per user, started on first use, ready once
their runner is SERVING.

Engine-neutral: it speaks to an `appliance.containers.engine.Engine`, so that another orchestrator
is a sibling backend behind the same calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from appliance.config import Config
from appliance.containers import labels
from appliance.containers.engine import Container, ContainerSpec, Engine, NameTaken
from appliance.errors import ContainerFailed, IsolationUnavailable
from appliance.projects import ProjectRef
from appliance.runner_client import RunnerClient
from appliance.store import Store
from rcoder_rpc.contract import RUNNER_PORT

log = logging.getLogger(__name__)

READY_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Limits:
    """A request's resource limits for a new container; None: the configured default."""

    memory_bytes: int | None = None
    cpus: float | None = None
    memory_swap_bytes: int | None = None


@dataclass(frozen=True)
class RunningContainer:
    """A running agent or desktop container, and the address of its runner."""

    container: Container
    address: str


@dataclass(frozen=True)
class Workload:
    """What a container is for: one project's agent, or one user's desktop (shared by their projects)."""

    kind: str
    key: str  # the project id, or the user id
    spec: ContainerSpec

    @property
    def name(self) -> str:
        return self.spec.name


def runner_address(container: Container) -> str:
    return f"{container.ip}:{RUNNER_PORT}"


class Lifecycle:
    def __init__(self, config: Config, engine: Engine, runners: RunnerClient, store: Store) -> None:
        self._config = config
        self._docker = config.docker_config
        self._engine = engine
        self._runners = runners
        self._store = store
        # One start at a time per container: two concurrent first chats get one container.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # container name → (when it was looked up, the running container): only running ones are kept.
        self._found: dict[str, tuple[float, RunningContainer]] = {}
        # Containers (by name) that requests are working with right now; cleanup leaves them alone.
        self._users: Counter[str] = Counter()
        # Why containers cannot be isolated from the host (then none is started), if they cannot.
        self.isolation_problem: str | None = None

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
        """The container a project's agent runs in: its own, or its user's desktop."""
        return self.desktop(ref.user_id) if ref.user_id else self.agent(ref.project_id)

    def agent(self, project_id: str) -> Workload:
        stack = self._docker.stack
        spec = ContainerSpec(
            name=f"rcoder-{stack}-agent-{project_id}",
            image=self._docker.agent_image,
            labels=labels.labels_for(stack, labels.KIND_AGENT, project_id=project_id),
            network=self._docker.network_base_name,
            volume=f"rcoder-{stack}-ws-{project_id}",
            volume_labels=labels.labels_for(stack, labels.KIND_WORKSPACE, project_id=project_id),
            mount_path=self._config.workspace_path,
            environment=self._environment("PROJECT_ID", project_id),
            tmpfs={
                "/tmp": "rw,nosuid,size=256m",
                "/home/agent": "rw,nosuid,uid=1000,gid=1000,mode=0700,size=512m",
            },
            **self._default_limits(),
        )
        return Workload(labels.KIND_AGENT, project_id, spec)

    def desktop(self, user_id: str) -> Workload:
        """The user's desktop: their home (a volume) holds a folder per project."""
        stack = self._docker.stack
        spec = ContainerSpec(
            name=f"rcoder-{stack}-desktop-{user_id}",
            image=self._docker.desktop_image,
            labels=labels.labels_for(stack, labels.KIND_DESKTOP, user_id=user_id),
            network=self._docker.desktop_network,
            volume=f"rcoder-{stack}-home-{user_id}",
            volume_labels=labels.labels_for(stack, labels.KIND_HOME, user_id=user_id),
            mount_path="/home/agent",
            environment=self._environment("USER_ID", user_id),
            tmpfs={"/tmp": "rw,nosuid,size=1g"},
            shm_bytes=256 * 1024**2,
            **self._default_limits(),
        )
        return Workload(labels.KIND_DESKTOP, user_id, spec)

    def workload_of(self, container_labels: dict[str, str]) -> Workload | None:
        """The agent or desktop a container of this stack serves (None for the gateway, the proxy, ...)."""
        kind = container_labels.get(labels.KIND)
        if kind == labels.KIND_AGENT and container_labels.get(labels.PROJECT):
            return self.agent(container_labels[labels.PROJECT])
        if kind == labels.KIND_DESKTOP and container_labels.get(labels.USER):
            return self.desktop(container_labels[labels.USER])
        return None

    def _default_limits(self) -> dict[str, int | float]:
        docker = self._docker
        return {
            "memory_bytes": docker.memory_limit_bytes,
            "cpus": docker.cpu_limit,
            "pids_limit": docker.pids_limit,
        }

    def _environment(self, variable: str, key: str) -> dict[str, str]:
        environment = {variable: key, "RCODER_DEFAULT_AGENT": self._config.default_agent_id}
        if self._config.otlp_endpoint:
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = self._config.otlp_endpoint
        return environment

    async def find(self, workload: Workload) -> RunningContainer | None:
        """The workload's running container, if there is one (looked up at most every few seconds)."""
        loop = asyncio.get_running_loop()
        cached = self._found.get(workload.name)
        if cached is not None and loop.time() - cached[0] < self._docker.cache_status_ttl_seconds:
            return cached[1]
        running = None
        for container in await self._engine.find(workload.spec.labels):
            if container.running and container.ip:
                running = RunningContainer(container, runner_address(container))
        if running is not None:
            self._found[workload.name] = (loop.time(), running)
        return running

    async def agent_ip(self, project_id: str) -> str | None:
        """The address of the project's running container (for the proxy), or None."""
        running = await self.find(self.agent(project_id))
        return running.container.ip if running else None

    async def desktop_ip(self, user_id: str) -> str | None:
        running = await self.find(self.desktop(user_id))
        return running.container.ip if running else None

    async def containers(self) -> list[Container]:
        """Every agent and desktop container of this stack, running or not."""
        found = await self._engine.find({labels.MANAGED: "true", labels.STACK: self._docker.stack})
        return [c for c in found if self.workload_of(c.labels) is not None]

    def forget(self, workload: Workload) -> None:
        """Drop what is known of the workload's container (it died or was removed)."""
        self._found.pop(workload.name, None)

    async def ensure(self, workload: Workload, limits: Limits | None = None) -> tuple[RunningContainer, bool]:
        """The workload's container, started (and waited for) when there is none; and whether it was started.

        `limits` apply to a container started now; a running one keeps those it was started with.
        """
        async with self._locks[workload.name]:
            running = await self.find(workload)
            if running is not None:
                try:
                    await self._wait_ready(running)
                    return running, False
                except ContainerFailed:
                    self.forget(workload)  # it died since it was last seen: start a new one
            if self.isolation_problem is not None:
                raise IsolationUnavailable(
                    f"no container is started until it can be isolated from the host: {self.isolation_problem}"
                )
            # Stopped or half-started leftovers go before a new start.
            for container in await self._engine.find(workload.spec.labels):
                await self._engine.remove(container.id)
            return await self._start(workload, limits or Limits()), True

    async def _start(self, workload: Workload, limits: Limits) -> RunningContainer:
        spec = dataclasses.replace(
            workload.spec,
            memory_bytes=limits.memory_bytes or workload.spec.memory_bytes,
            cpus=limits.cpus or workload.spec.cpus,
            memory_swap_bytes=limits.memory_swap_bytes,
        )
        log.info("starting container %s (%s %s)", spec.name, workload.kind, workload.key)
        try:
            container = await self._engine.start(spec)
        except NameTaken:
            # Another gateway (or a leftover being removed) holds the name; use what is there.
            running = await self.find(workload)
            if running is None:
                raise ContainerFailed(f"container {spec.name} exists but is not running; retry") from None
            await self._wait_ready(running)
            return running
        if not container.ip:
            await self._engine.remove(container.id)
            raise ContainerFailed(f"container {spec.name} has no address on network {spec.network}")
        running = RunningContainer(container, runner_address(container))
        try:
            await self._wait_ready(running)
        except BaseException:
            await self._engine.remove(container.id)
            raise
        await self.record(container, workload)
        return running

    async def record(self, container: Container, workload: Workload) -> None:
        """Note a running container in the store."""
        desktop = workload.kind == labels.KIND_DESKTOP
        await self._store.record_container(
            {
                "container_id": container.id,
                "container_name": container.name,
                "kind": workload.kind,
                "project_id": None if desktop else workload.key,
                "user_id": workload.key if desktop else None,
                "image": workload.spec.image,
                "address": runner_address(container) if container.ip else None,
            }
        )

    async def _wait_ready(self, running: RunningContainer) -> None:
        """Wait until the runner answers SERVING; fail early, with its logs, if the container exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._docker.start_timeout_seconds
        next_inspect = loop.time() + 1.0
        while not await self._runners.serving(running.address):
            if loop.time() > deadline:
                logs = await self._engine.logs(running.container.id)
                raise ContainerFailed(
                    f"the runner in {running.container.name} did not become ready within "
                    f"{self._docker.start_timeout_seconds} s; its last log lines:\n{logs}"
                )
            if loop.time() > next_inspect:
                state = await self._engine.inspect(running.container.id)
                if not state.running:
                    logs = await self._engine.logs(running.container.id)
                    raise ContainerFailed(f"container {state.name} stopped while starting; its log:\n{logs}")
                next_inspect = loop.time() + 1.0
            await asyncio.sleep(READY_POLL_SECONDS)

    async def stop(self, workload: Workload) -> bool:
        """Remove the workload's containers (its volume stays); False if there were none."""
        async with self._locks[workload.name]:
            self.forget(workload)
            containers = await self._engine.find(workload.spec.labels)
            for container in containers:
                await self._engine.remove(container.id)
                if container.ip:
                    await self._runners.forget(runner_address(container))
                await self._store.container_removed(container.id)
            return bool(containers)
