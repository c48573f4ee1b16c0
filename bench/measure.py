"""What every benchmark needs: timing a turn's first event, percentiles, cgroup readings, a table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from docker import DockerClient
from docker.models.containers import Container

from tests.eventually import eventually
from tests.stack import Appliance, agent_containers, run_appliance

CGROUP = Path("/sys/fs/cgroup")
# The appliances measured log as a deployed one does (the tests' appliances log at DEBUG).
SETTINGS = {"RCODER_LOG_LEVEL": "INFO"}


def appliance(
    engine: DockerClient, config: dict[str, Any] | None = None, **settings: str
) -> AbstractContextManager[Appliance]:
    """A freshly started appliance configured as deployed, plus `settings` (and a config file's `config`)."""
    return run_appliance(engine, config=config, **(SETTINGS | settings))


@dataclass
class Figure:
    """One benchmark's result: rows for the summary table, and everything measured, for the JSON."""

    name: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def row(self, label: str, value: str) -> None:
        self.rows.append((label, value))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated; the one definition every figure uses."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
    }


def summary_ms(values: list[float]) -> dict[str, float]:
    """`summary` of durations in seconds, its figures in milliseconds."""
    return {name: value if name == "n" else value * 1000 for name, value in summary(values).items()}


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal whole shares (the rounds a count of samples is taken in)."""
    return [total // parts + (part < total % parts) for part in range(parts)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def first_event(client: httpx.Client, chat_path: str, body: dict, progress_path: str) -> tuple[float, str]:
    """Seconds from sending the prompt to the first SSE event of its turn, and the session id."""
    started = time.perf_counter()
    reply = client.post(chat_path, json=body, timeout=180)
    reply.raise_for_status()
    session = reply.json()["data"]["session_id"]
    with client.stream("GET", f"{progress_path}/{session}", timeout=180) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                return time.perf_counter() - started, session
    raise RuntimeError(f"the stream of session {session} ended without an event")


def read_to_end(client: httpx.Client, session: str, progress_path: str = "/agent/progress") -> None:
    """Follow the session's stream until its turn ends."""
    with client.stream("GET", f"{progress_path}/{session}", timeout=300) as stream:
        for _ in stream.iter_lines():
            pass


def running_project(appliance: Appliance, engine: DockerClient, prefix: str) -> tuple[str, Container]:
    """A new project (id `prefix` and a random tail) whose first turn is over, and its running container."""
    project = f"{prefix}{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        reply = client.post("/chat", json={"prompt": "hello", "project_id": project}, timeout=180)
        reply.raise_for_status()
        read_to_end(client, reply.json()["data"]["session_id"])
    [container] = agent_containers(engine, appliance.stack, project)
    return project, container


def serve_in(container: Container, command: list[str], port: int) -> None:
    """Start `command` in the container as the agent's user, in the background; return once something
    listens on `port` there."""
    container.exec_run(command, user="1000", detach=True)
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)"
    eventually(
        lambda: container.exec_run(["python3", "-c", probe]).exit_code == 0,
        20,
        f"something listening on {port} in {container.name}",
    )


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def cgroup_file(container_id: str, controller: str, name: str) -> Path:
    """A cgroup file of the container, on cgroup v1 (per-controller trees) or v2 (one tree)."""
    for candidate in (
        CGROUP / controller / "docker" / container_id / name,
        CGROUP / "system.slice" / f"docker-{container_id}.scope" / name,
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no cgroup {controller}/{name} for container {container_id[:12]}")


def memory_bytes(container_id: str) -> dict[str, int]:
    """The container's memory as its cgroup counts it: all of it, and without reclaimable page cache."""
    try:
        usage = int(cgroup_file(container_id, "memory", "memory.usage_in_bytes").read_text())
        stats = cgroup_file(container_id, "memory", "memory.stat").read_text()
        inactive = "total_inactive_file"
    except FileNotFoundError:
        usage = int(cgroup_file(container_id, "memory", "memory.current").read_text())
        stats = cgroup_file(container_id, "memory", "memory.stat").read_text()
        inactive = "inactive_file"
    values = dict(line.split() for line in stats.splitlines())
    return {"usage": usage, "working_set": usage - int(values.get(inactive, 0))}


def cpu_seconds(container_id: str) -> float:
    """CPU time the container has used (all its processes), from its cgroup."""
    try:
        return int(cgroup_file(container_id, "cpuacct", "cpuacct.usage").read_text()) / 1e9
    except FileNotFoundError:
        stat = dict(
            line.split() for line in cgroup_file(container_id, "cpu", "cpu.stat").read_text().splitlines()
        )
        return int(stat["usage_usec"]) / 1e6


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process (e.g. dockerd)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dockerd_pid() -> int:
    return int(
        subprocess.run(["pidof", "dockerd"], check=True, capture_output=True, text=True).stdout.split()[0]
    )


def machine() -> dict[str, Any]:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024**2, 1),
        "docker": docker("version", "--format", "{{.Server.Version}}"),
    }


def write_json(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def latency_rows(figure: Figure, results: dict[str, Any], labels: dict[str, str]) -> None:
    """A row of p50 and p99 (ms) for each result named in `labels` (its name: the row's label)."""
    for name, label in labels.items():
        figure.row(label, f"p50 {results[name]['p50']:.2f} ms, p99 {results[name]['p99']:.2f} ms")


def table(figures: list[Figure]) -> str:
    width = max((len(label) for figure in figures for label, _ in figure.rows), default=10)
    lines = []
    for figure in figures:
        lines.append(f"{figure.name}")
        lines.extend(f"  {label:<{width}}  {value}" for label, value in figure.rows)
    return "\n".join(lines)
