"""Agent containers: one per project, started on first use, ready once its runner is SERVING.

Engine-neutral: it speaks to `appliance.engine.Engine`, so another orchestrator can stand
behind the same calls later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from appliance import labels
from appliance.config import Config
from appliance.engine import ContainerInfo, ContainerSpec, Engine, NameTaken
from appliance.errors import ContainerFailed
from appliance.runner_client import RUNNER_PORT, RunnerClient
from appliance.store import Store

log = logging.getLogger(__name__)

READY_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Limits:
    """A request's resource limits for a new container; None: the configured default."""

    memory_bytes: int | None = None
    cpus: float | None = None
    memory_swap_bytes: int | None = None


@dataclass(frozen=True)
class RunningAgent:
    container: ContainerInfo
    address: str


class Lifecycle:
    def __init__(self, config: Config, engine: Engine, runners: RunnerClient, store: Store) -> None:
        self._config = config
        self._docker = config.docker_config
        self._engine = engine
        self._runners = runners
        self._store = store
        # One start at a time per project: two concurrent first chats get one container.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # project → (when it was looked up, its running container): only running ones are kept.
        self._found: dict[str, tuple[float, RunningAgent]] = {}
        # Requests working with a project's container right now; cleanup leaves such projects alone.
        self._users: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def using(self, project_id: str) -> AsyncIterator[None]:
        """Mark the project's container as in use for the duration (it is not cleaned up meanwhile)."""
        self._users[project_id] += 1
        try:
            yield
        finally:
            self._users[project_id] -= 1
            if not self._users[project_id]:
                del self._users[project_id]

    def in_use(self, project_id: str) -> bool:
        return project_id in self._users

    def _labels(self, project_id: str) -> dict[str, str]:
        return labels.labels_for(self._docker.stack, labels.KIND_AGENT, project_id=project_id)

    def container_name(self, project_id: str) -> str:
        return f"rcoder-{self._docker.stack}-agent-{project_id}"

    def volume_name(self, project_id: str) -> str:
        return f"rcoder-{self._docker.stack}-ws-{project_id}"

    async def find_agent(self, project_id: str) -> RunningAgent | None:
        """The project's running agent container, if there is one (looked up at most every few seconds)."""
        loop = asyncio.get_running_loop()
        cached = self._found.get(project_id)
        if cached is not None and loop.time() - cached[0] < self._docker.cache_status_ttl_seconds:
            return cached[1]
        running = None
        for container in await self._engine.find(self._labels(project_id)):
            if container.running and container.ip:
                running = RunningAgent(container, f"{container.ip}:{RUNNER_PORT}")
        if running is not None:
            self._found[project_id] = (loop.time(), running)
        return running

    def forget(self, project_id: str) -> None:
        """Drop what is known of the project's container (it died or was removed)."""
        self._found.pop(project_id, None)

    async def ensure_agent(self, project_id: str, limits: Limits | None = None) -> RunningAgent:
        """The project's agent container, started (and waited for) when there is none.

        `limits` apply to a container started now; a running one keeps those it was started with.
        """
        async with self._locks[project_id]:
            running = await self.find_agent(project_id)
            if running is not None:
                try:
                    await self._wait_ready(running)
                    return running
                except ContainerFailed:
                    self.forget(project_id)  # it died since it was last seen: start a new one
            # Stopped or half-started leftovers of this project go before a new start.
            for container in await self._engine.find(self._labels(project_id)):
                await self._engine.remove(container.id)
            return await self._start(project_id, limits or Limits())

    async def _start(self, project_id: str, limits: Limits) -> RunningAgent:
        spec = ContainerSpec(
            name=self.container_name(project_id),
            image=self._docker.agent_image,
            labels=self._labels(project_id),
            network=self._docker.network_base_name,
            workspace_volume=self.volume_name(project_id),
            workspace_path=self._config.workspace_path,
            volume_labels=labels.labels_for(self._docker.stack, labels.KIND_WORKSPACE, project_id=project_id),
            environment=self._environment(project_id),
            memory_bytes=limits.memory_bytes or self._docker.memory_limit_bytes,
            cpus=limits.cpus or self._docker.cpu_limit,
            memory_swap_bytes=limits.memory_swap_bytes,
            pids_limit=self._docker.pids_limit,
            tmpfs={
                "/tmp": "rw,nosuid,size=256m",
                "/home/agent": "rw,nosuid,uid=1000,gid=1000,mode=0700,size=512m",
            },
        )
        log.info("starting container %s for project %s", spec.name, project_id)
        try:
            container = await self._engine.start(spec)
        except NameTaken:
            # Another gateway (or a leftover being removed) holds the name; use what is there.
            running = await self.find_agent(project_id)
            if running is None:
                raise ContainerFailed(f"container {spec.name} exists but is not running; retry") from None
            await self._wait_ready(running)
            return running
        if not container.ip:
            await self._engine.remove(container.id)
            raise ContainerFailed(f"container {spec.name} has no address on network {spec.network}")
        running = RunningAgent(container, f"{container.ip}:{RUNNER_PORT}")
        try:
            await self._wait_ready(running)
        except BaseException:
            await self._engine.remove(container.id)
            raise
        await self.record(container, project_id)
        return running

    async def record(self, container: ContainerInfo, project_id: str) -> None:
        """Note a running agent container of the project in the store."""
        await self._store.record_container(
            {
                "container_id": container.id,
                "container_name": container.name,
                "kind": labels.KIND_AGENT,
                "project_id": project_id,
                "user_id": None,
                "image": self._docker.agent_image,
                "address": f"{container.ip}:{RUNNER_PORT}" if container.ip else None,
            }
        )

    def _environment(self, project_id: str) -> dict[str, str]:
        environment = {"PROJECT_ID": project_id, "RCODER_DEFAULT_AGENT": self._config.default_agent_id}
        if self._config.otlp_endpoint:
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = self._config.otlp_endpoint
        return environment

    async def _wait_ready(self, running: RunningAgent) -> None:
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

    async def stop_agent(self, project_id: str) -> bool:
        """Remove the project's containers (its workspace volume stays); False if there were none."""
        async with self._locks[project_id]:
            self.forget(project_id)
            containers = await self._engine.find(self._labels(project_id))
            for container in containers:
                await self._engine.remove(container.id)
                if container.ip:
                    await self._runners.forget(f"{container.ip}:{RUNNER_PORT}")
                await self._store.container_removed(container.id)
            return bool(containers)
