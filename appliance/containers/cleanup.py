"""The cleanup task: idle agent, desktop and pod containers are paused, then removed; a busy one never.

A container younger than the protection period stays. One idle longer than the idle timeout is
paused (frozen by the cgroup freezer: no CPU, its memory kept, back in ~25 ms when a request needs it),
unless its runner reports a turn in progress; a paused one is removed once it has been idle for
`paused_keep_seconds` more, or sooner when the host runs short of memory. A running container older
than the container TTL is removed when idle. Workspace volumes stay, so the next chat picks up where
the project was. "Idle" counts from the project's last chat or keepalive, or the last request that
needed the container (a preview through the proxy, a status call), whichever came last.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance import metrics
from appliance.config import CleanupConfig
from appliance.containers.lifecycle import Lifecycle
from appliance.containers.workloads import Workload, Workloads
from appliance.engines.engine import Container
from appliance.errors import ApplianceError
from appliance.runner_client import RunnerClient
from appliance.store import Store

log = logging.getLogger(__name__)

MEMINFO = Path("/proc/meminfo")


def memory_used_percent(meminfo: Path = MEMINFO) -> float:
    """How full the host's memory is (the gateway shares the host's /proc/meminfo)."""
    values = {line.split(":")[0]: int(line.split()[1]) for line in meminfo.read_text().splitlines()}
    return 100.0 * (1 - values["MemAvailable"] / values["MemTotal"])


@dataclass(frozen=True)
class Candidate:
    workload: Workload
    container: Container
    idle_seconds: float
    age_seconds: float
    # When it was found idle (time.time(), as Lifecycle.last_needed()): a request since then spares it.
    seen_at: float


class Cleanup:
    def __init__(
        self,
        config: CleanupConfig,
        ttl_seconds: int,
        store: Store,
        lifecycle: Lifecycle,
        workloads: Workloads,
        runners: RunnerClient,
        memory_used: Callable[[], float] = memory_used_percent,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._ttl = ttl_seconds
        self._store = store
        self._lifecycle = lifecycle
        self._workloads = workloads
        self._runners = runners
        self._memory_used = memory_used
        self._clock = clock

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._config.cleanup_interval_seconds)
            try:
                done = await self.once()
            except ApplianceError as exc:
                log.warning("cleanup skipped a round: %s", exc.message)
                continue
            if done:
                log.info("cleanup: %s", ", ".join(done))

    async def once(self) -> list[str]:
        """One round; returns what it did ("paused agent <project>", "removed desktop <user>", ...).

        A desktop is shared by its user's projects, a pod by its projects: it is idle only when none of
        them was active.
        """
        done = []
        paused = []
        for candidate in await self._candidates():
            workload, container = candidate.workload, candidate.container
            if candidate.age_seconds < self._config.container_protection_seconds:
                continue
            if container.paused:
                paused.append(candidate)
                if (
                    candidate.idle_seconds
                    >= self._config.idle_timeout_seconds + self._config.paused_keep_seconds
                ):
                    await self._remove(candidate, done)
                continue
            expired = self._ttl > 0 and candidate.age_seconds > self._ttl
            if candidate.idle_seconds < self._config.idle_timeout_seconds and not expired:
                continue
            if await self._busy(workload, container):
                log.info("cleanup spares %s %s: it is busy", workload.kind, workload.key)
                continue
            if self._config.pause_idle and not expired:
                if await self._lifecycle.pause(workload, candidate.seen_at):
                    done.append(f"paused {workload.kind} {workload.key}")
                    metrics.CLEANUP_REMOVALS.labels(workload.kind, "paused").inc()
            else:
                await self._remove(candidate, done)
        await self._relieve_memory(paused, done)
        return done

    async def _candidates(self) -> list[Candidate]:
        now = self._clock()
        workloads, containers = self._workloads, self._store.containers
        pairs = [(workloads.agent(p), last) for p, last in await self._store.projects.with_containers()]
        pairs += [(workloads.desktop(u), last) for u, last in await containers.desktops_with_activity()]
        pairs += [(workloads.pod(pod), last) for pod, last in await containers.pods_with_activity()]
        candidates = []
        for workload, last_activity in pairs:
            container = await self._lifecycle.inspect(workload)
            if container is None or not container.alive or container.created is None:
                continue
            last = max(last_activity.timestamp(), self._lifecycle.last_needed(workload))
            age = now - container.created.timestamp()
            candidates.append(Candidate(workload, container, now - last, age, time.time()))
        return candidates

    async def _relieve_memory(self, paused: list[Candidate], done: list[str]) -> None:
        """While the host's memory is fuller than the limit, remove paused containers, longest idle first."""
        for candidate in sorted(paused, key=lambda c: -c.idle_seconds):
            if self._memory_used() < self._config.memory_pressure_percent:
                return
            if f"removed {candidate.workload.kind} {candidate.workload.key}" not in done:
                await self._remove(candidate, done, why=" (memory pressure)")

    async def _remove(self, candidate: Candidate, done: list[str], why: str = "") -> None:
        workload = candidate.workload
        if await self._lifecycle.stop(workload, idle_at=candidate.seen_at):
            done.append(f"removed {workload.kind} {workload.key}{why}")
            metrics.CLEANUP_REMOVALS.labels(workload.kind, "removed").inc()

    async def _busy(self, workload: Workload, container: Container) -> bool:
        if self._lifecycle.in_use(workload):
            return True
        running = await self._lifecycle.find(workload, resume=False)
        if running is None:
            return False
        try:
            status = await self._runners.container_status(running.address)
        except ApplianceError:
            return False  # a runner that does not answer is not working on anything (as in the seed)
        return status.is_active or status.active_tasks > 0 or self._lifecycle.in_use(workload)
