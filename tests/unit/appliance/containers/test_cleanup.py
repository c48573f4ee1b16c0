"""appliance/containers/cleanup.py over a fake engine and a real runner, with a clock of its own: idle
containers are paused, then removed; a busy one is spared; memory pressure removes paused ones early."""

from __future__ import annotations

import dataclasses
import time

from appliance.config import CleanupConfig
from appliance.containers.cleanup import Cleanup
from appliance.projects import ProjectRef
from rcoder_wire.bodies import ChatBody

HOUR = 3600.0
CONFIG = CleanupConfig(idle_timeout_seconds=600, container_protection_seconds=0, paused_keep_seconds=3600)


def cleanup(gateway, later: float, memory_used: float = 10.0, **changes) -> Cleanup:
    """A cleanup that sees the time `later` seconds from now."""
    return Cleanup(
        dataclasses.replace(CONFIG, **changes),
        0,
        gateway.store,
        gateway.lifecycle,
        gateway.workloads,
        gateway.runners,
        memory_used=lambda: memory_used,
        clock=lambda: time.time() + later,
    )


async def chat(gateway, project: str, prompt: str = "hello") -> str:
    started = await gateway.turns.chat(ProjectRef(project), ChatBody(prompt=prompt), None)
    return started.session_id


async def finish(gateway, session: str) -> None:
    async for _ in gateway.hub.stream(session, 0):
        pass


def status(gateway, project: str) -> str:
    name = gateway.workloads.agent(project).name
    return next(c.status for c in gateway.engine.containers.values() if c.name == name)


async def test_an_idle_container_is_paused_then_resumed_by_the_next_request(gateway):
    await finish(gateway, await chat(gateway, "idle"))

    assert await cleanup(gateway, later=0).once() == [], "not idle yet"
    assert await cleanup(gateway, later=700).once() == ["paused agent idle"]
    assert status(gateway, "idle") == "paused"

    assert await gateway.turns.status(ProjectRef("idle")), "a status call"
    assert status(gateway, "idle") == "running", "resumed it"


async def test_a_busy_container_is_never_paused(gateway):
    await chat(gateway, "busy", "wait 30")

    assert await cleanup(gateway, later=700).once() == []
    assert status(gateway, "busy") == "running"
    await gateway.turns.cancel(ProjectRef("busy"), None)


async def test_a_paused_container_goes_after_its_keep_time_or_under_memory_pressure(gateway):
    for project in ("kept", "old"):
        await finish(gateway, await chat(gateway, project))
    assert sorted(await cleanup(gateway, later=700).once()) == ["paused agent kept", "paused agent old"]

    assert await cleanup(gateway, later=700 + HOUR / 2).once() == [], "kept while paused"
    assert sorted(await cleanup(gateway, later=700 + HOUR).once()) == [
        "removed agent kept",
        "removed agent old",
    ]


async def test_memory_pressure_removes_paused_containers_longest_idle_first(gateway):
    await finish(gateway, await chat(gateway, "first"))
    await cleanup(gateway, later=700).once()

    done = await cleanup(gateway, later=800, memory_used=95.0).once()

    assert done == ["removed agent first (memory pressure)"]
    assert gateway.workloads.agent("first").name not in {c.name for c in gateway.engine.containers.values()}
