"""SSE fan-out: many clients following one live turn (the demo agent's `talk`), straight from the
gateway: events delivered per second, delivery delay (the event's timestamp to its arrival, counting
only events emitted after the client joined), errors, the gateway's CPU and memory; then thousands of
streams held open on turns that wait, with their heartbeats, and the memory each costs.

The clients are bench/sseload, a small Go program, so that they cost little next to the gateway.

    python -m bench.fanout [--clients 1000] [--held 5000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import docker

from bench import measure
from bench.measure import Figure, cpu_seconds, machine, memory_bytes, ms, summary, table, write_json
from tests.stack import ROOT, Appliance

WORDS_PER_TURN = 600  # about 12 s of events at the demo agent's 20 ms a word
HEARTBEAT_WAIT_SECONDS = 18.0  # the gateway sends one every 15 s on an idle stream
SSELOAD = ROOT / ".build" / "sseload"


def build_sseload() -> Path:
    """Build the Go load client (Go's cache makes a second build instant)."""
    subprocess.run(["go", "build", "-o", str(SSELOAD), "."], cwd=ROOT / "bench" / "sseload", check=True)
    return SSELOAD


def start_turn(appliance: Appliance, prompt: str, **extra: str) -> tuple[str, str]:
    """A turn of a new project: (its project, its session)."""
    project = f"f{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        body = {"prompt": prompt, "project_id": project, **extra}
        reply = client.post("/chat", json=body, timeout=180)
        reply.raise_for_status()
        return project, reply.json()["data"]["session_id"]


def sseload(appliance: Appliance, session: str, clients: int, seconds: float, sample: int) -> list[dict]:
    url = f"{appliance.gateway_url}/agent/progress/{session}"
    command = [str(SSELOAD), "-url", url, "-key", appliance.api_key, "-clients", str(clients)]
    command += ["-seconds", str(seconds), "-sample", str(sample)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def live(appliance: Appliance, gateway_id: str, n: int) -> dict:
    """n clients on one session for a whole `talk` turn."""
    _, session = start_turn(appliance, f"talk {WORDS_PER_TURN}")
    cpu, started = cpu_seconds(gateway_id), time.time()
    clients = sseload(appliance, session, n, seconds=120, sample=1)
    elapsed = time.time() - started
    delays = [delay / 1000 for c in clients for _, delay in c["delays"]]
    # Once every client has joined (their connections no longer compete with the events).
    all_joined = max(c["joined_ms"] for c in clients)
    steady = [delay / 1000 for c in clients for emitted, delay in c["delays"] if emitted >= all_joined]
    delivered = sum(c["events"] for c in clients)
    return {
        "clients": n,
        "events_delivered": delivered,
        "events_per_s": delivered / elapsed,
        "delay_s": summary(delays) if delays else None,
        "delay_once_all_joined_s": summary(steady) if steady else None,
        "errors": sorted({c["error"] for c in clients if c.get("error")}),
        "all_reached_the_end": all(c["ended"] for c in clients),
        "gateway_cpu_s_per_s": (cpu_seconds(gateway_id) - cpu) / elapsed,
    }


def held(appliance: Appliance, gateway_id: str, n: int) -> dict:
    """n streams held open on turns that wait (silently, for a permission answer), for one heartbeat
    round; the memory they cost."""
    turns = [
        start_turn(appliance, "create held.txt", permission_policy="ask") for _ in range(max(1, n // 1000))
    ]
    before = memory_bytes(gateway_id)["working_set"]
    results: list[list[dict]] = []
    share = n // len(turns)
    followers = [
        threading.Thread(
            target=lambda s=session: results.append(
                sseload(appliance, s, share, HEARTBEAT_WAIT_SECONDS + 3, 1000)
            )
        )
        for _, session in turns
    ]
    for follower in followers:
        follower.start()
    time.sleep(HEARTBEAT_WAIT_SECONDS)
    during = memory_bytes(gateway_id)["working_set"]
    for follower in followers:
        follower.join()
    with appliance.client() as client:
        for project, session in turns:
            client.post("/agent/session/cancel", json={"project_id": project, "session_id": session})
    clients = [c for part in results for c in part]
    open_streams = sum(1 for c in clients if not c.get("error"))
    return {
        "streams": len(clients),
        "held_open": open_streams,
        "with_a_heartbeat": sum(1 for c in clients if c["heartbeats"] > 0),
        "errors": sorted({c["error"] for c in clients if c.get("error")})[:5],
        "memory_per_stream_bytes": (during - before) / max(open_streams, 1),
    }


def run(clients: int = 1000, streams: int = 5000) -> Figure:
    build_sseload()
    engine = docker.from_env()
    with measure.appliance(engine, RCODER_WARM_POOL_SIZE="1") as appliance:
        gateway_id = appliance.gateway(engine).id
        one = live(appliance, gateway_id, clients)
        many_open = held(appliance, gateway_id, streams)
    figure = Figure(f"SSE fan-out ({clients} clients on one turn; {streams} held open)")
    figure.data = {"live": one, "held": many_open}
    delay = one["delay_s"] or {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    figure.row("events delivered per second", f"{one['events_per_s']:.0f}")
    figure.row(
        "delivery delay p50 / p95 / p99", f"{ms(delay['p50'])} / {ms(delay['p95'])} / {ms(delay['p99'])}"
    )
    if steady := one["delay_once_all_joined_s"]:
        figure.row(
            "  once every client had joined",
            f"{ms(steady['p50'])} / {ms(steady['p95'])} / {ms(steady['p99'])}",
        )
    figure.row("errors; every client reached the end", f"{len(one['errors'])}; {one['all_reached_the_end']}")
    figure.row("gateway CPU during the turn", f"{one['gateway_cpu_s_per_s']:.2f} s/s")
    figure.row(
        f"{many_open['streams']} streams: open, with a heartbeat",
        f"{many_open['held_open']}, {many_open['with_a_heartbeat']}",
    )
    figure.row("gateway memory per idle stream", f"{many_open['memory_per_stream_bytes'] / 1024:.1f} KiB")
    return figure


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--held", type=int, default=5000)
    parser.add_argument("--json", type=Path, default=ROOT / ".build" / "bench" / "fanout.json")
    args = parser.parse_args(argv)
    result = run(args.clients, args.held)
    write_json(args.json, {"machine": machine(), "figure": result.data})
    print(table([result]))


if __name__ == "__main__":
    main()
