"""Churn: projects created, chatted with, stopped and removed in waves, and desktops opened and left to
the cleanup, on a fresh appliance; then what is left. At the end no agent or desktop container, no
network beyond the stack's two, no volume beyond the kept workspaces (and the gateway's state), and the
gateway's open files and memory back near where they were after a warm-up.

`make soak` runs 100 projects and 20 desktops and prints what it measured; the suite runs a short one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx

from bench.measure import appliance, memory_bytes, read_to_end
from tests.eventually import eventually
from tests.stack import Appliance

# Desktops go when idle: the cleanup removes them (no pause) soon after their last use.
SETTINGS = {
    "RCODER_WARM_POOL_SIZE": "0",
    "RCODER_IDLE_TIMEOUT_SECONDS": "2",
    "RCODER_CLEANUP_INTERVAL_SECONDS": "1",
    "RCODER_CONTAINER_PROTECTION_SECONDS": "0",
    "RCODER_PAUSE_IDLE": "false",
    "RCODER_CHATS_PER_MINUTE": "1000",
    "RCODER_STARTS_PER_MINUTE": "1000",
}
WARM_UP_PROJECTS = 3


def gateway_readings(app: Appliance, engine: docker.DockerClient) -> dict[str, int]:
    """The gateway process's open file descriptors and its container's memory working set."""
    gateway = app.gateway(engine)
    processes = gateway.top(ps_args="-eo pid,args")["Processes"]
    [pid] = [int(p[0]) for p in processes if "bin/rcoder" in p[1] and "healthcheck" not in p[1]]
    return {"fds": len(os.listdir(f"/proc/{pid}/fd")), "memory": memory_bytes(gateway.id)["working_set"]}


def post(client: httpx.Client, path: str, body: dict) -> dict:
    """The reply's data; a failure is recorded with what the gateway said."""
    reply = client.post(path, json=body, timeout=180)
    if reply.status_code != 200:
        raise RuntimeError(f"{path} {body}: {reply.status_code} {reply.text}")
    return reply.json()["data"]


def one_project(app: Appliance) -> None:
    project = f"s{uuid.uuid4().hex[:10]}"
    with app.client() as client:
        started = post(client, "/chat", {"prompt": "create churn.txt", "project_id": project})
        read_to_end(client, started["session_id"])
        post(client, "/agent/stop", {"project_id": project})


def one_desktop(app: Appliance) -> None:
    with app.client() as client:
        post(client, "/computer/pod/ensure", {"user_id": f"u{uuid.uuid4().hex[:10]}", "project_id": "p1"})


def left_over(app: Appliance, engine: docker.DockerClient) -> dict[str, list[str]]:
    label = {"label": f"rcoder.stack={app.stack}"}
    services = {f"rcoder-{app.stack}-gateway", f"rcoder-{app.stack}-proxy"}
    # Kept on purpose: workspaces, desktop homes and the gateway's state (`make clean` removes them).
    kept = tuple(f"rcoder-{app.stack}-{kind}" for kind in ("ws-", "home-", "state"))
    return {
        "containers": [
            c.name
            for c in engine.containers.list(all=True, filters=label, ignore_removed=True)
            if c.name not in services
        ],
        "networks": sorted(n.name for n in engine.networks.list(filters=label)),
        "volumes": [v.name for v in engine.volumes.list(filters=label) if not v.name.startswith(kept)],
    }


def soak(engine: docker.DockerClient, projects: int, desktops: int, concurrency: int) -> dict[str, Any]:
    with appliance(engine, **SETTINGS) as app:
        for _ in range(WARM_UP_PROJECTS):
            one_project(app)
        before = gateway_readings(app, engine)
        started = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            jobs = [pool.submit(one_project, app) for _ in range(projects)]
            jobs += [pool.submit(one_desktop, app) for _ in range(desktops)]
            failures = [str(e) for job in jobs if (e := job.exception()) is not None]
        elapsed = time.monotonic() - started
        eventually(lambda: not left_over(app, engine)["containers"], 120, "the desktops' cleanup")
        time.sleep(2)  # the gateway settles (closed channels, collected tasks)
        after = gateway_readings(app, engine)
        rest = left_over(app, engine)
    return {
        "projects": projects,
        "desktops": desktops,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "failures": failures,
        "left_over": rest,
        "gateway_before": before,
        "gateway_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--desktops", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, default=Path(".build/bench/soak.json"))
    args = parser.parse_args()
    result = soak(docker.from_env(), args.projects, args.desktops, args.concurrency)
    before, after = result["gateway_before"], result["gateway_after"]
    print(
        f"{args.projects} projects and {args.desktops} desktops, {args.concurrency} at a time: {result['seconds']} s"
    )
    print(f"failures: {len(result['failures'])}  {result['failures'][:3]}")
    print(f"left over: {result['left_over']}")
    print(f"gateway open files: {before['fds']} -> {after['fds']}")
    print(f"gateway memory:     {before['memory'] / 2**20:.1f} MiB -> {after['memory'] / 2**20:.1f} MiB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    clean = not result["failures"] and not any(result["left_over"][k] for k in ("containers", "volumes"))
    raise SystemExit(0 if clean else 1)


if __name__ == "__main__":
    main()
