"""Keep the store in agreement with the engine: adopt what runs at start-up, notice what dies later.

Nothing is wiped on restart. Running agent, desktop and pod containers of this stack are adopted (also
those the store does not know, so none is silently leaked); stopped ones are removed (their workspaces
stay); turns that were streaming are picked up again, or ended with an error if their container is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from appliance import labels
from appliance.containers.lifecycle import Lifecycle
from appliance.containers.workloads import Workload, Workloads
from appliance.engines.engine import ContainerGone, Engine
from appliance.errors import ApplianceError, EngineUnavailable
from appliance.events import EventHub
from appliance.projects import ProjectRef
from appliance.store import Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


class Reconciler:
    def __init__(
        self,
        stack: str,
        engine: Engine,
        lifecycle: Lifecycle,
        workloads: Workloads,
        hub: EventHub,
        store: Store,
        on_files_gone: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self._labels = {labels.MANAGED: "true", labels.STACK: stack}
        self._engine = engine
        self._lifecycle = lifecycle
        self._workloads = workloads
        self._hub = hub
        self._store = store
        # Told the name of a files container that stopped or went (appliance/files.py).
        self._on_files_gone = on_files_gone

    async def adopt(self) -> None:
        adopted = []
        for container in await self._engine.find(self._labels):
            workload = self._workloads.of(container.name, container.labels)
            if workload is None:
                continue
            if not container.alive:
                log.info("removing stopped container %s (%s %s)", container.name, workload.kind, workload.key)
                await self._engine.remove(container.id)
                await self._store.containers.removed(container.id)
                continue
            log.info(
                "adopting %s container %s (%s %s)",
                container.status,
                container.name,
                workload.kind,
                workload.key,
            )
            if workload.kind == labels.KIND_AGENT:
                await self._store.projects.ensure(workload.key)
            await self._lifecycle.record(container, workload)
            if container.running:
                adopted.append(workload)
        for state in await self._store.sessions.in_turn():
            workload = self._lifecycle.serving(ProjectRef.from_key(state.project_id))
            running = await self._lifecycle.find(workload)
            if running is not None:
                await self._hub.pump(
                    state.session_id, state.project_id, running.container.id, running.address
                )
            else:
                await self._hub.end_turns([state], f"the {workload.kind} container stopped during the turn")
        for workload in adopted:
            await self._catch_up(workload)

    async def _catch_up(self, workload: Workload) -> None:
        """Follow again what the runner holds and the log lacks (a gateway killed before it wrote a
        turn's start or its last events); a runner that does not answer has nothing to give."""
        running = await self._lifecycle.find(workload, resume=False)
        if running is None:
            return

        def key_of(project_id: str) -> str:
            user = workload.key if workload.kind == labels.KIND_DESKTOP else ""
            return ProjectRef(project_id, user or None).key

        try:
            await self._hub.catch_up(running.container.id, running.address, key_of)
        except ApplianceError as exc:
            log.warning("could not ask %s for its sessions: %s", running.container.name, exc.message)

    async def watch(self) -> None:
        """End the turns of containers that die or are removed behind the gateway's back."""
        while True:
            try:
                async for gone in self._engine.events(self._labels):
                    await self._container_gone(gone)
            except EngineUnavailable as exc:
                log.warning("%s; watching again in %.0f s", exc.message, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _container_gone(self, gone: ContainerGone) -> None:
        if gone.labels.get(labels.KIND) == labels.KIND_FILES and self._on_files_gone is not None:
            await self._on_files_gone(gone.name)
            return
        workload = self._workloads.of(gone.name, gone.labels)
        if workload is None:
            return
        await self._lifecycle.gone(workload)
        await self._store.containers.removed(gone.container_id)
        if workload.kind == labels.KIND_AGENT:
            sessions = await self._store.sessions.in_turn(key=workload.key)
        elif workload.kind == labels.KIND_POD:
            sessions = await self._store.sessions.in_turn(pod_id=workload.key)
        else:
            sessions = await self._store.sessions.in_turn(user_id=workload.key)
        await self._hub.end_turns(
            sessions, f"the {workload.kind} container {gone.describe()}: the turn was lost"
        )
