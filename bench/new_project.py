"""New projects: a first /chat to its first SSE event, one project after another and N at once, against
the floor of `docker run -d` (and `docker rm -f`) of the same image, measured in the same run."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import docker as docker_sdk

from bench.measure import (
    Figure,
    cpu_seconds,
    docker,
    dockerd_pid,
    first_event,
    ms,
    process_cpu_seconds,
    read_to_end,
    summary,
)
from tests.eventually import eventually
from tests.stack import Appliance, image, unclaimed


def floor(n: int) -> dict[str, dict[str, float]]:
    """`docker run -d` of the agent image, and `docker rm -f` of what it started, n times."""
    runs, removals = [], []
    for _ in range(n):
        started = time.perf_counter()
        container = docker("run", "-d", "--label", "rcoder.bench=floor", image("agent"))
        runs.append(time.perf_counter() - started)
        started = time.perf_counter()
        docker("rm", "-f", container)
        removals.append(time.perf_counter() - started)
    return {"run": summary(runs), "rm": summary(removals)}


def one_new_project(appliance: Appliance, before=None, since: float | None = None) -> float:
    """Seconds from the prompt (or from `since`, a perf_counter time) to its turn's first event."""
    with appliance.client() as client:
        if before is not None:
            before()
        seconds, session = first_event(
            client, "/chat", {"prompt": "hello", "project_id": f"b{uuid.uuid4().hex[:10]}"}, "/agent/progress"
        )
        arrived = time.perf_counter()
        read_to_end(client, session)
    return seconds if since is None else arrived - since


def sequential(appliance: Appliance, n: int, before=None) -> dict[str, float]:
    """n new projects, one after another (each waits for `before`, e.g. a warm pool, first)."""
    return summary([one_new_project(appliance, before) for _ in range(n)])


def stack_agents(engine, stack: str) -> set[str]:
    """The ids of the stack's agent containers (pooled ones included)."""
    labels = [f"rcoder.stack={stack}", "rcoder.kind=agent"]
    return {
        container.id for container in engine.containers.list(filters={"label": labels}, ignore_removed=True)
    }


def burst(appliance: Appliance, n: int) -> dict[str, float]:
    """n new projects at once: the wall time until every one of them had its first event, projects
    started per second, and CPU seconds per start: the gateway's, dockerd's, and the new containers'
    own (their boot and the turn)."""
    engine = docker_sdk.from_env()
    gateway = appliance.gateway(engine).id
    gateway_cpu, dockerd_cpu = cpu_seconds(gateway), process_cpu_seconds(dockerd_pid())
    before = stack_agents(engine, appliance.stack)
    started = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        firsts = list(pool.map(lambda _: one_new_project(appliance, since=started), range(n)))
    wall = max(firsts)
    new = stack_agents(engine, appliance.stack) - before
    return {
        "n": n,
        "wall_s": wall,
        "projects_per_s": n / wall,
        "first_event": summary(firsts),
        "gateway_cpu_s_per_start": (cpu_seconds(gateway) - gateway_cpu) / n,
        "dockerd_cpu_s_per_start": (process_cpu_seconds(dockerd_pid()) - dockerd_cpu) / n,
        "container_cpu_s_per_start": sum(cpu_seconds(c) for c in new) / max(len(new), 1),
    }


def pool_full(engine, appliance: Appliance, size: int) -> None:
    """Until the appliance's warm pool has `size` containers ready."""
    eventually(lambda: len(unclaimed(engine, appliance.stack)) >= size, 120, "the warm pool filling")


def run(appliance: Appliance, n: int, burst_n: int, label: str, pool_size: int = 0) -> Figure:
    """New projects one after another, then `burst_n` at once, on an appliance whose warm pool has
    `pool_size` containers (each measurement waits until it is full again)."""
    engine = docker_sdk.from_env()
    before = (lambda: pool_full(engine, appliance, pool_size)) if pool_size else None
    figure = Figure(f"new project ({label})")
    base = floor(n)
    new = sequential(appliance, n, before)
    if before is not None:
        before()
    at_once = burst(appliance, burst_n)
    floor_p50 = base["run"]["p50"]
    figure.data = {"floor": base, "first_event": new, "burst": at_once, "pool_size": pool_size}
    figure.row("docker run -d (floor) p50", ms(floor_p50))
    figure.row("first event p50 / p95", f"{ms(new['p50'])} / {ms(new['p95'])}")
    figure.row(
        "first event p50 / floor", f"{new['p50'] / floor_p50:.2f}x (p95 {new['p95'] / floor_p50:.2f}x)"
    )
    figure.row(
        f"burst of {burst_n}: wall, projects/s",
        f"{at_once['wall_s']:.1f} s ({at_once['wall_s'] / floor_p50:.1f}x floor), {at_once['projects_per_s']:.2f}/s",
    )
    figure.row(
        "CPU per start: gateway, dockerd, container",
        f"{at_once['gateway_cpu_s_per_start']:.2f} s, {at_once['dockerd_cpu_s_per_start']:.2f} s, "
        f"{at_once['container_cpu_s_per_start']:.2f} s",
    )
    figure.data["ratios"] = {
        "first_event_p50_over_floor": new["p50"] / floor_p50,
        "first_event_p95_over_floor": new["p95"] / floor_p50,
        "burst_wall_over_floor": at_once["wall_s"] / floor_p50,
    }
    return figure
