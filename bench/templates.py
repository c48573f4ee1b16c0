"""Templates: a new project on a template (a bare Debian root, the runner brought in by the runner
bundle), from its first /chat to the turn's first event, with the template's own warm pool and without
one, against the floor of `docker run -d` of the template's sealed image in the same run; and the idle
memory of a project's container on the template against one in the agent image (the same runner,
built in)."""

from __future__ import annotations

import time
import uuid
from contextlib import AbstractContextManager

from docker import DockerClient

from bench.measure import Figure, appliance, docker, first_event, memory_bytes, ms, read_to_end, summary
from bench.memory import SETTLE_SECONDS, mib
from tests.eventually import eventually
from tests.stack import Appliance

TEMPLATE = "bare"
SOURCE = "debian:bookworm-slim"
SEAL_SECONDS = 300.0
# The gateway's count of warm-pool containers ready to be claimed (appliance/metrics.py).
READY_METRIC = "rcoder_pool_ready_containers "


def templated(engine: DockerClient, pool_size: int) -> AbstractContextManager[Appliance]:
    """An appliance with the template, its pool of `pool_size`, and no pool for the agent image."""
    templates = {TEMPLATE: {"image": SOURCE, "pool_size": pool_size}}
    return appliance(engine, RCODER_WARM_POOL_SIZE="0", config={"templates": templates})


def sealed_image(engine: DockerClient, appliance: Appliance) -> str:
    """The template's sealed image, once the appliance has made it."""

    def made() -> str | None:
        with appliance.client() as client:
            listed = {t["name"]: t for t in client.get("/templates").json()["data"]["templates"]}
        if listed[TEMPLATE]["state"] != "ready":
            return None
        [image] = engine.images.list(name=f"rcoder/template-{appliance.stack}-{TEMPLATE}")
        return image.id

    return eventually(made, SEAL_SECONDS, f"template {TEMPLATE} sealed")


def floor(image: str, n: int) -> dict[str, float]:
    """`docker run -d` of the sealed image (a process that idles), n times."""
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        container = docker("run", "-d", "--label", "rcoder.bench=floor", image, "sleep", "infinity")
        runs.append(time.perf_counter() - started)
        docker("rm", "-f", container)
    return summary(runs)


def new_project(appliance: Appliance, project: str | None = None) -> float:
    """Seconds from a new project's first /chat on the template to its first event."""
    body = {"prompt": "hello", "project_id": project or f"t{uuid.uuid4().hex[:10]}", "template": TEMPLATE}
    with appliance.client() as client:
        seconds, session = first_event(client, "/chat", body, "/agent/progress")
        read_to_end(client, session)
    return seconds


def pooled(appliance: Appliance, size: int) -> None:
    """Until the pool has `size` containers ready to be claimed (its runner serving, its agent
    started), as the gateway counts them: a pool container that exists may still be starting."""

    def ready() -> bool:
        with appliance.client() as client:
            text = client.get("/metrics").text
        values = [line.split()[-1] for line in text.splitlines() if line.startswith(READY_METRIC)]
        return bool(values) and float(values[0]) >= size

    eventually(ready, 180, "the template's pool filling")


def idle_memory(engine: DockerClient, appliance: Appliance) -> dict[str, dict[str, int]]:
    """The cgroup memory of an idle project on the template, and of one in the agent image."""
    readings = {}
    for kind, template in (("template", TEMPLATE), ("agent_image", None)):
        project = f"m{uuid.uuid4().hex[:10]}"
        body = {"prompt": "hello", "project_id": project} | ({"template": template} if template else {})
        with appliance.client() as client:
            reply = client.post("/chat", json=body, timeout=180)
            read_to_end(client, reply.json()["data"]["session_id"])
        container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
        time.sleep(SETTLE_SECONDS)
        readings[kind] = memory_bytes(container.id)
    return readings


def run(engine: DockerClient, n: int) -> Figure:
    figure = Figure(f"new project on a template ({SOURCE}, the runner brought in)")
    with templated(engine, pool_size=1) as warm:
        image = sealed_image(engine, warm)
        base = floor(image, n)
        firsts = []
        for _ in range(n):
            pooled(warm, 1)
            firsts.append(new_project(warm))
        memory = idle_memory(engine, warm)
    with templated(engine, pool_size=0) as cold:
        sealed_image(engine, cold)
        colds = [new_project(cold) for _ in range(n)]
    with_pool, without = summary(firsts), summary(colds)
    floor_p50 = base["p50"]
    added = memory["template"]["working_set"] - memory["agent_image"]["working_set"]
    figure.data = {
        "floor": base,
        "first_event_pool": with_pool,
        "first_event_no_pool": without,
        "memory": memory,
        "ratios": {
            "pool_p50_over_floor": with_pool["p50"] / floor_p50,
            "no_pool_p50_over_floor": without["p50"] / floor_p50,
        },
        "bundle_added_bytes": added,
    }
    figure.row("docker run -d of the sealed image (floor) p50", ms(floor_p50))
    figure.row(
        "first event, template's pool warm: p50 / floor (target <= 0.2x)",
        f"{ms(with_pool['p50'])} / {with_pool['p50'] / floor_p50:.2f}x",
    )
    figure.row(
        "first event, no pool: p50 / floor (target <= 2.5x)",
        f"{ms(without['p50'])} / {without['p50'] / floor_p50:.2f}x",
    )
    figure.row(
        "idle memory: template / agent image (target: <= +10 MiB)",
        f"{mib(memory['template']['working_set'])} / {mib(memory['agent_image']['working_set'])} "
        f"({added / 1024**2:+.1f} MiB)",
    )
    return figure
