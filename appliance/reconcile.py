"""Keep the store in agreement with the engine: adopt what runs at start-up, notice what dies later.

Nothing is wiped on restart. Running agent containers of this stack are adopted (also those the
store does not know, so none is silently leaked); stopped ones are removed (their workspaces stay);
turns that were streaming are picked up again, or ended with an error if their container is gone.
"""

from __future__ import annotations

import asyncio
import logging

from appliance import labels
from appliance.engine import Engine
from appliance.errors import EngineUnavailable
from appliance.events import EventHub
from appliance.lifecycle import Lifecycle
from appliance.store import Store

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


class Reconciler:
    def __init__(self, stack: str, engine: Engine, lifecycle: Lifecycle, hub: EventHub, store: Store) -> None:
        self._labels = labels.labels_for(stack, labels.KIND_AGENT)
        self._engine = engine
        self._lifecycle = lifecycle
        self._hub = hub
        self._store = store

    async def adopt(self) -> None:
        for container in await self._engine.find(self._labels):
            project_id = container.labels.get(labels.PROJECT, "")
            if not container.running:
                log.info("removing stopped container %s (project %s)", container.name, project_id)
                await self._engine.remove(container.id)
                await self._store.container_removed(container.id)
                continue
            log.info("adopting running container %s (project %s)", container.name, project_id)
            await self._store.ensure_project(project_id)
            await self._lifecycle.record(container, project_id)
        for state in await self._hub.sessions_in_turn():
            agent = await self._lifecycle.find_agent(state.project_id)
            if agent is not None:
                await self._hub.pump(state.session_id, state.project_id, agent.container.id, agent.address)
            else:
                await self._hub.end_project_turns(
                    state.project_id, "the agent container stopped during the turn"
                )

    async def watch(self) -> None:
        """End the turns of agent containers that die or are removed behind the gateway's back."""
        while True:
            try:
                async for event in self._engine.events(self._labels):
                    await self._container_gone(event)
            except EngineUnavailable as exc:
                log.warning("%s; watching again in %.0f s", exc.message, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _container_gone(self, event: dict) -> None:
        attributes = event.get("Actor", {}).get("Attributes", {})
        project_id = attributes.get(labels.PROJECT)
        if not project_id:
            return
        action = event.get("Action", "stopped")
        self._lifecycle.forget(project_id)
        await self._store.container_removed(event.get("id", ""))
        detail = f" with exit code {attributes['exitCode']}" if "exitCode" in attributes else ""
        await self._hub.end_project_turns(
            project_id, f"the agent container {action}{detail}: the turn was lost"
        )
