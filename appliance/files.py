"""Where a project's files are served from: a files container per workspace root (the whole volume of a
project with a container of its own, or the project's folder in a pod or a desktop home), started on
demand from the appliance's agent image, on the volume of whatever container serves the project.

It reads and writes the workspace as the agent's user, whether the agent's container runs, sleeps
paused or is gone, and never starts or resumes the agent. Its runner (`rcoder-runner --files`) serves
the files HTTP API on FILES_PORT and leaves when nobody used it for `files.idle_seconds`; the sweep
then removes the container. docs/api.md ("Files") has the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

import httpx

from appliance import labels
from appliance.config import Config
from appliance.containers.lifecycle import Lifecycle
from appliance.containers.running import RunningContainer, runner_address, start_container, wait_ready
from appliance.containers.workloads import Workload, Workloads
from appliance.engines.engine import Engine, NameTaken
from appliance.errors import ApplianceError, ContainerFailed, NotFound, TooManyRequests
from appliance.projects import ProjectRef
from appliance.runner_client import RunnerClient
from rcoder_rpc.contract import FILES_PORT

log = logging.getLogger(__name__)

# When a client refused for the files containers' limit is told to try again.
FILES_RETRY_SECONDS = 10


class Files:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        runners: RunnerClient,
        workloads: Workloads,
        lifecycle: Lifecycle,
        on_gone: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._config = config.files
        self._stack = config.engine_config.stack
        self._start_seconds = config.engine_config.start_timeout_seconds
        self._engine = engine
        self._runners = runners
        self._workloads = workloads
        self._lifecycle = lifecycle
        # Told when a files container goes (the proxy forgets the routes it kept to it).
        self._on_gone = on_gone
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Files containers known to run: {name: the container}; one that went is dropped by forget().
        self._running: dict[str, RunningContainer] = {}
        self._starting = 0
        # To the files servers: a body may take long to come, but not to start coming.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))

    async def close(self) -> None:
        await self.client.aclose()

    def workload(self, ref: ProjectRef) -> Workload:
        """The project's files container: on the volume of the container serving the project, rooted at
        the project's own folder there."""
        return self._workloads.files(self._lifecycle.serving(ref), self._lifecycle.folder_of(ref), ref)

    async def address(self, ref: ProjectRef) -> str:
        """host:port of the project's files server, started when there is none; NotFound when the
        project has no workspace yet."""
        return files_address(await self.ensure(self.workload(ref)))

    def forget(self, workload: Workload) -> None:
        """The container no longer answers (it left when idle): look it up again next time."""
        self._running.pop(workload.name, None)

    async def gone(self, name: str) -> None:
        """A files container stopped or went (the engine's events say so)."""
        self._running.pop(name, None)
        if self._on_gone is not None:
            await self._on_gone()

    async def ensure(self, workload: Workload) -> RunningContainer:
        if (running := self._running.get(workload.name)) is not None:
            return running
        async with self._locks[workload.name]:
            if (running := self._running.get(workload.name)) is not None:
                return running
            running = await self._found(workload) or await self._start(workload)
            self._running[workload.name] = running
            return running

    async def _found(self, workload: Workload) -> RunningContainer | None:
        """The workload's files container if it runs and answers; a stopped one is removed."""
        container = await self._engine.find_named(workload.name)
        if container is None:
            return None
        if container.running and container.ip:
            running = RunningContainer(container, runner_address(container))
            with contextlib.suppress(ContainerFailed):
                await wait_ready(self._engine, self._runners, running, self._start_seconds)
                return running
        await self._engine.remove(container.id)
        return None

    async def _start(self, workload: Workload) -> RunningContainer:
        self._lifecycle.check_isolated()
        await self._admit()
        self._starting += 1
        try:
            log.info("starting files container %s (%s)", workload.name, workload.key)
            return await start_container(self._engine, self._runners, workload.spec, self._start_seconds)
        except NotFound:
            ref = ProjectRef.from_key(workload.key)
            raise NotFound("project {project_id!r} has no workspace yet", project_id=ref.project_id) from None
        except NameTaken:
            running = await self._found(workload)
            if running is None:
                raise ContainerFailed(
                    "container {name} exists but is not running; retry", name=workload.name
                ) from None
            return running
        finally:
            self._starting -= 1

    async def _admit(self) -> None:
        servers = await self._engine.find(self._labels())
        if len([c for c in servers if c.alive]) + self._starting >= self._config.max_servers:
            raise TooManyRequests(
                "this appliance serves as many workspaces' files at once as it may ({limit}); retry later",
                retry_after=FILES_RETRY_SECONDS,
                limit=self._config.max_servers,
            )

    def _labels(self) -> dict[str, str]:
        return {labels.MANAGED: "true", labels.STACK: self._stack, labels.KIND: labels.KIND_FILES}

    async def sweep(self) -> list[str]:
        """Remove the files containers that left (their server stops when idle); the names removed."""
        removed = []
        for container in await self._engine.find(self._labels()):
            if container.running or container.paused:
                continue
            self._running.pop(container.name, None)
            await self._engine.remove(container.id)
            removed.append(container.name)
        return removed

    async def run(self) -> None:
        """Sweep every quarter of the idle time."""
        while True:
            await asyncio.sleep(max(self._config.idle_seconds / 4, 1))
            try:
                if removed := await self.sweep():
                    log.info("removed idle files containers: %s", ", ".join(removed))
            except ApplianceError as exc:
                log.warning("the files containers' sweep skipped a round: %s", exc.message)


def files_address(running: RunningContainer) -> str:
    return f"{running.container.ip}:{FILES_PORT}"
