"""Idle memory of one agent container and one desktop, as their cgroups count it (not `ps`)."""

from __future__ import annotations

import time
import uuid

from bench.measure import Figure, memory_bytes, read_to_end
from tests.eventually import eventually
from tests.stack import Appliance, agent_containers

SETTLE_SECONDS = 5.0


def agent_memory(appliance: Appliance, engine) -> dict[str, int]:
    project = f"m{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        reply = client.post("/chat", json={"prompt": "hello", "project_id": project}, timeout=180)
        read_to_end(client, reply.json()["data"]["session_id"])
    [container] = agent_containers(engine, appliance.stack, project)
    time.sleep(SETTLE_SECONDS)  # idle: the turn is over, nothing runs
    return memory_bytes(container.id)


def desktop_memory(appliance: Appliance, engine) -> dict[str, int]:
    user = f"u{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        client.post("/computer/pod/ensure", json={"user_id": user, "project_id": "p1"}, timeout=180)
        eventually(
            lambda: client.get("/computer/pod/vnc-status", params={"user_id": user}).json()["data"][
                "novnc_ready"
            ],
            120,
            "the desktop showing",
        )
    labels = [f"rcoder.stack={appliance.stack}", f"rcoder.user={user}", "rcoder.kind=desktop"]
    [container] = engine.containers.list(filters={"label": labels})
    time.sleep(SETTLE_SECONDS)
    return memory_bytes(container.id)


def mib(value: int) -> str:
    return f"{value / 1024**2:.0f} MiB"


def run(appliance: Appliance, engine) -> Figure:
    agent, desktop = agent_memory(appliance, engine), desktop_memory(appliance, engine)
    figure = Figure("idle memory (cgroup)")
    figure.data = {"agent": agent, "desktop": desktop}
    figure.row("agent container: usage / working set", f"{mib(agent['usage'])} / {mib(agent['working_set'])}")
    figure.row("desktop: usage / working set", f"{mib(desktop['usage'])} / {mib(desktop['working_set'])}")
    return figure
