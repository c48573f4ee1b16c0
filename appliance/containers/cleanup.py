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
from appliance.containers.lifecycle import Lifecycle
from appliance.errors import ApplianceError
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
        """One round; returns what was removed ("agent <project>", "desktop <user>").

        A desktop is shared by its user's projects: it goes only when none of them was active
        within the idle timeout.
        """
        now = datetime.now(UTC)
        lifecycle = self._lifecycle
        candidates = [(lifecycle.agent(p), last) for p, last in await self._store.projects_with_containers()]
        candidates += [(lifecycle.desktop(u), last) for u, last in await self._store.desktops_with_activity()]
        removed = []
        for workload, last_activity in candidates:
            running = await lifecycle.find(workload)
            if running is None or running.container.created is None:
                continue
            age = (now - running.container.created).total_seconds()
            idle = (now - last_activity).total_seconds()
            if age < self._config.container_protection_seconds:
                continue
            expired = self._ttl > 0 and age > self._ttl
            if idle < self._config.idle_timeout_seconds and not expired:
                continue
            if lifecycle.in_use(workload) or await self._busy(running.address):
                log.info("cleanup spares %s %s: it is busy", workload.kind, workload.key)
                continue
            if lifecycle.in_use(workload):
                continue  # a request arrived while the runner was asked
            await lifecycle.stop(workload)
            removed.append(f"{workload.kind} {workload.key}")
        return removed

    async def _busy(self, address: str) -> bool:
        try:
            status = await self._runners.container_status(address)
        except ApplianceError:
            return False  # a runner that does not answer is not working on anything (as in the seed)
        return status.is_active or status.active_tasks > 0
