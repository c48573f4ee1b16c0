"""The cleanup task: remove agent containers that have been idle too long, never a busy one.

A container younger than the protection period stays. One idle longer than the idle timeout
(or older than the container TTL while idle) goes, unless its runner reports a turn in progress.
Its workspace volume stays, so the next chat picks up where the project was.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from appliance.config import CleanupConfig
from appliance.errors import ApplianceError
from appliance.lifecycle import Lifecycle
from appliance.runner_client import RunnerClient
from appliance.store import Store

log = logging.getLogger(__name__)


class Cleanup:
    def __init__(
        self,
        config: CleanupConfig,
        ttl_seconds: int,
        store: Store,
        lifecycle: Lifecycle,
        runners: RunnerClient,
    ) -> None:
        self._config = config
        self._ttl = ttl_seconds
        self._store = store
        self._lifecycle = lifecycle
        self._runners = runners

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._config.cleanup_interval_seconds)
            try:
                removed = await self.once()
            except ApplianceError as exc:
                log.warning("cleanup skipped a round: %s", exc.message)
                continue
            if removed:
                log.info("cleanup removed the idle containers of %s", ", ".join(removed))

    async def once(self) -> list[str]:
        """One round; returns the projects whose container was removed."""
        now = datetime.now(UTC)
        removed = []
        for project_id, last_activity in await self._store.projects_with_containers():
            agent = await self._lifecycle.find_agent(project_id)
            if agent is None or agent.container.created is None:
                continue
            age = (now - agent.container.created).total_seconds()
            idle = (now - last_activity).total_seconds()
            if age < self._config.container_protection_seconds:
                continue
            expired = self._ttl > 0 and age > self._ttl
            if idle < self._config.idle_timeout_seconds and not expired:
                continue
            if self._lifecycle.in_use(project_id) or await self._busy(agent.address):
                log.info("cleanup spares project %s: its agent is busy", project_id)
                continue
            if self._lifecycle.in_use(project_id):
                continue  # a request arrived while the runner was asked
            await self._lifecycle.stop_agent(project_id)
            removed.append(project_id)
        return removed

    async def _busy(self, address: str) -> bool:
        try:
            status = await self._runners.container_status(address)
        except ApplianceError:
            return False  # a runner that does not answer is not working on anything (as in the seed)
        return status.is_active or status.active_tasks > 0
