"""Resume: a project whose container sat idle until cleanup paused it (or removed it), then a chat: the
first event of the turn that wakes it."""

from __future__ import annotations

import uuid

from bench.measure import Figure, first_event, ms, read_to_end, summary
from tests.eventually import eventually
from tests.stack import Appliance, agent_containers

# The appliance this runs against must clean up quickly: these settings make it so.
SETTINGS = {
    "RCODER_IDLE_TIMEOUT_SECONDS": "2",
    "RCODER_CLEANUP_INTERVAL_SECONDS": "1",
    "RCODER_CONTAINER_PROTECTION_SECONDS": "0",
}


def state(engine, stack: str, project: str) -> str:
    found = agent_containers(engine, stack, project)
    return found[0].status if found else "removed"


def one(appliance: Appliance, engine) -> tuple[float, str]:
    project = f"r{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        body = {"prompt": "hello", "project_id": project}
        _, session = first_event(client, "/chat", body, "/agent/progress")
        read_to_end(client, session)
        idle = eventually(
            lambda: (s := state(engine, appliance.stack, project)) in ("paused", "removed") and s,
            60,
            f"cleanup pausing or removing project {project}",
        )
        seconds, session = first_event(client, "/chat", body, "/agent/progress")
        read_to_end(client, session)
    return seconds, idle


def run(appliance: Appliance, engine, n: int) -> Figure:
    results = [one(appliance, engine) for _ in range(n)]
    woken = summary([seconds for seconds, _ in results])
    states = sorted({idle for _, idle in results})
    figure = Figure("resume an idle project")
    figure.data = {"first_event": woken, "idle_state": states}
    figure.row(f"first event p50 / p95 ({', '.join(states)})", f"{ms(woken['p50'])} / {ms(woken['p95'])}")
    return figure
