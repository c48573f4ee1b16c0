"""The proxy: requests per second and p50/p99 latency of a 1 KiB file, all in one run, from
- a static nginx server, straight (the ceiling),
- a plain nginx reverse proxy in front of it with an upstream keepalive pool (the best any proxy does),
- the appliance's proxy with the API key (the seed's /proxy/{port}/ route, to the same server),
- the appliance's proxy with a project token (/proxy/{project}/{port}/, to the same server planted as
  the project's container on the agents' network, that container straight for reference, and a plain
  nginx with a keepalive pool to it: the token route's baseline, since its upstream is behind the
  agents' bridge, which costs more than loopback);
and WebSocket echo round trips per second straight, through a plain nginx and through the proxy.
wrk makes the HTTP load, against each in turn, in rounds (the figures are the medians; ratios are
taken within a round), and the CPU time each proxy spends per request is read from its cgroup.
Every server and load generator is on this machine (loopback or the stack's own network).

    python -m bench.proxy [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
from websockets.asyncio.client import connect

from bench import measure
from bench.measure import Figure, machine, table, write_json
from tests.stack import ROOT, Appliance, free_port, image

SMALL = "small.txt"
STATIC_CONF = "events {}\nhttp { access_log off; server { listen LISTEN; root /srv; } }\n"
# The same number of workers as the appliance's proxy (one per core).
PLAIN_PROXY_CONF = """worker_processes auto;
events {}
http {
  access_log off;
  upstream static { server UPSTREAM; keepalive 64; }
  server {
    listen 127.0.0.1:LISTEN;
    location / { proxy_pass http://static; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
"""
# The same for WebSockets: the upgrade passed on, as any reverse proxy in front of them does.
PLAIN_WS_CONF = """worker_processes auto;
events {}
http {
  access_log off;
  upstream echo { server UPSTREAM; }
  server {
    listen 127.0.0.1:LISTEN;
    location / {
      proxy_pass http://echo; proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";
    }
  }
}
"""
PLAIN = "plain nginx, keepalive pool"
PLAIN_TO_PROJECT = "plain nginx, to the project's server"
ECHO_STRAIGHT, ECHO_PLAIN, ECHO_PROXY = (
    "websocket echo, straight",
    "websocket echo, plain nginx",
    "websocket echo, appliance proxy",
)
STRAIGHT, PROJECT_STRAIGHT = "static, straight", "the project's server, straight"
# Each proxy, the plain nginx that takes the same way to the same server, and that server straight:
# its ratios' baselines.
PROXIES = {
    "appliance proxy, API key": (PLAIN, STRAIGHT),
    "appliance proxy, project token": (PLAIN_TO_PROJECT, PROJECT_STRAIGHT),
}
WS_ECHO = ROOT / "tests" / "integration" / "ws_echo_server.py"


def wrk(url: str, seconds: int, connections: int, header: str | None = None) -> dict[str, float]:
    """Requests per second, p50/p99 latency (ms) and requests done of `url` under wrk."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if header:
        command[1:1] = ["-H", header]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert errors is None, f"wrk saw failed requests against {url}:\n{output}"

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    done = int(re.search(r"(\d+) requests in", output).group(1))
    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"), "requests": done}


@dataclass
class Target:
    """One thing wrk loads: its URL, the header it needs, and the container whose CPU it costs."""

    url: str
    header: str | None = None
    container: str | None = None


def loaded(target: Target, seconds: int, connections: int) -> dict[str, float]:
    """wrk's figures for `target`, and the CPU time its container spent per request (µs)."""
    before = measure.cpu_seconds(target.container) if target.container else 0.0
    figures = wrk(target.url, seconds, connections, target.header)
    if target.container:
        spent = measure.cpu_seconds(target.container) - before
        figures["cpu_us_per_request"] = spent * 1e6 / figures["requests"]
    return figures


def interleaved(targets: dict[str, Target], seconds: int, connections: int) -> dict[str, dict[str, float]]:
    """wrk against each target in turn, in rounds of about 2 s each, and the median of each figure: this
    machine is shared, and a slow moment then costs one round of every target rather than all of one.
    Each proxy's ratios to its plain nginx are taken within a round (neighbours in time), then the
    median of those."""
    rounds = max(1, min(5, seconds // 2))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            runs[name].append(loaded(target, max(1, round(seconds / rounds)), connections))
    results = {
        name: {figure: statistics.median(run[figure] for run in done) for figure in done[0]}
        for name, done in runs.items()
    }
    for name, (baseline, _) in PROXIES.items():
        pairs = list(zip(runs[name], runs[baseline], strict=True))
        results[name]["rps_vs_plain"] = statistics.median(mine["rps"] / base["rps"] for mine, base in pairs)
        results[name]["p99_vs_plain"] = statistics.median(
            mine["p99_ms"] / base["p99_ms"] for mine, base in pairs
        )
    return results


@contextlib.contextmanager
def nginx(engine, stack: str, name: str, conf: str, files: Path, **options) -> Iterator:
    """An nginx of the proxy image serving `conf`, labelled with the stack (so it goes with it)."""
    (files / f"{name}.conf").write_text(conf)
    container = engine.containers.run(
        image("proxy"),
        ["nginx", "-g", "daemon off;", "-c", f"/srv/{name}.conf"],
        name=f"rcoder-{stack}-bench-{name}",
        labels={"rcoder.stack": stack, "rcoder.kind": "bench"},
        volumes={str(files): {"bind": "/srv", "mode": "ro"}},
        detach=True,
        **options,
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def wait_answers(url: str, headers: dict[str, str] | None = None) -> None:
    for _ in range(100):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


async def echo_rate(url: str, seconds: float, headers: dict[str, str] | None) -> float:
    """WebSocket echo round trips per second over one connection."""
    async with connect(url, additional_headers=headers or {}) as socket:
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            await socket.send("x" * 64)
            await socket.recv()
            done += 1
    return done / seconds


@contextlib.contextmanager
def planted_project(engine, appliance: Appliance, files: Path, stack_conf: str) -> Iterator:
    """A static nginx planted as project `bench`'s container: the gateway routes by the name."""
    (files / "planted.conf").write_text(stack_conf)
    container = engine.containers.run(
        image("proxy"),
        ["nginx", "-g", "daemon off;", "-c", "/srv/planted.conf"],
        name=f"rcoder-{appliance.stack}-agent-bench",
        labels={
            "rcoder.managed": "true",
            "rcoder.stack": appliance.stack,
            "rcoder.kind": "agent",
            "rcoder.project": "bench",
        },
        network=f"rcoder-{appliance.stack}-agents",
        volumes={str(files): {"bind": "/srv", "mode": "ro"}},
        detach=True,
    )
    try:
        container.reload()
        yield container
    finally:
        container.remove(force=True)


def plain_proxy(upstream: str, port: int, conf: str = PLAIN_PROXY_CONF) -> str:
    return conf.replace("UPSTREAM", upstream).replace("LISTEN", str(port))


def echo_rates(echoes: dict[str, tuple[str, dict[str, str] | None]], seconds: float) -> dict[str, dict]:
    """WebSocket echo round trips per second through each of `echoes` (URL, headers), in turn, in
    three rounds (the medians), as `interleaved` does for HTTP."""
    rounds = 3
    runs: dict[str, list[float]] = {name: [] for name in echoes}
    for _ in range(rounds):
        for name, (url, headers) in echoes.items():
            runs[name].append(asyncio.run(echo_rate(url, seconds / rounds, headers)))
    return {name: {"messages_per_s": statistics.median(rates)} for name, rates in runs.items()}


def run(seconds: int = 10, connections: int = 32) -> Figure:
    engine = docker.from_env()
    static_port, plain_port, plain_project_port, plain_ws_port, echo_port = (free_port() for _ in range(5))
    settings = {"RCODER_PROXY_ALLOWED_PORTS": "1024-65535", "RCODER_WARM_POOL_SIZE": "0"}
    with (
        tempfile.TemporaryDirectory() as folder,
        measure.appliance(engine, **settings) as appliance,
        contextlib.ExitStack() as running,
    ):
        files = Path(folder)
        files.chmod(0o755)  # nginx's workers (www-data) read from it
        (files / SMALL).write_bytes(b"x" * 1024)

        def serve(name: str, conf: str):
            return running.enter_context(
                nginx(engine, appliance.stack, name, conf, files, network_mode="host")
            )

        static = serve("static", STATIC_CONF.replace("LISTEN", f"127.0.0.1:{static_port}"))
        plain = serve("plain", plain_proxy(f"127.0.0.1:{static_port}", plain_port))
        planted = running.enter_context(
            planted_project(engine, appliance, files, STATIC_CONF.replace("LISTEN", "8080"))
        )
        planted_ip = next(iter(planted.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
        plain_project = serve("plain-project", plain_proxy(f"{planted_ip}:8080", plain_project_port))
        echo = running.enter_context(subprocess.Popen([sys.executable, str(WS_ECHO), str(echo_port)]))
        serve("plain-ws", plain_proxy(f"127.0.0.1:{echo_port}", plain_ws_port, PLAIN_WS_CONF))
        running.callback(echo.kill)

        token = appliance.client().post("/proxy/token", json={"project_id": "bench", "port": 8080})
        cookie = f"Cookie: rcoder_p_bench={token.json()['data']['token']}"
        key = f"x-api-key: {appliance.api_key}"
        proxy = engine.containers.get(f"rcoder-{appliance.stack}-proxy").id
        api_key_route, token_route = PROXIES
        targets = {
            STRAIGHT: Target(f"http://127.0.0.1:{static_port}/{SMALL}", None, static.id),
            PLAIN: Target(f"http://127.0.0.1:{plain_port}/{SMALL}", None, plain.id),
            api_key_route: Target(f"{appliance.url}/proxy/{static_port}/{SMALL}", key, proxy),
            PROJECT_STRAIGHT: Target(f"http://{planted_ip}:8080/{SMALL}"),
            PLAIN_TO_PROJECT: Target(
                f"http://127.0.0.1:{plain_project_port}/{SMALL}", None, plain_project.id
            ),
            token_route: Target(f"{appliance.url}/proxy/bench/8080/{SMALL}", cookie, proxy),
        }
        for target in targets.values():
            wait_answers(target.url, dict([target.header.split(": ", 1)]) if target.header else None)
        results = interleaved(targets, seconds, connections)
        proxy_port = appliance.url.rsplit(":", 1)[1]
        echoes = {
            ECHO_STRAIGHT: (f"ws://127.0.0.1:{echo_port}/", None),
            ECHO_PLAIN: (f"ws://127.0.0.1:{plain_ws_port}/", None),
            ECHO_PROXY: (f"ws://127.0.0.1:{proxy_port}/proxy/{echo_port}/", {"x-api-key": appliance.api_key}),
        }
        results.update(echo_rates(echoes, seconds))
    return figure(results)


def figure(results: dict[str, dict[str, float]]) -> Figure:
    figure = Figure("proxy (1 KiB responses)")
    figure.data = dict(results)
    for name, values in results.items():
        if "rps" in values:
            cpu = (
                f", {values['cpu_us_per_request']:.1f} µs CPU/request"
                if "cpu_us_per_request" in values
                else ""
            )
            figure.row(
                name,
                f"{values['rps']:.0f} req/s, p50 {values['p50_ms']:.2f} ms, p99 {values['p99_ms']:.2f} ms{cpu}",
            )
        else:
            figure.row(name, f"{values['messages_per_s']:.0f} messages/s")
    ratios = {}
    for name, (baseline, straight) in PROXIES.items():
        mine = results[name]
        ratios[name] = {
            "rps_vs_plain_nginx": mine["rps_vs_plain"],
            "p99_vs_plain_nginx": mine["p99_vs_plain"],
            "rps_vs_straight": mine["rps"] / results[straight]["rps"],
        }
        figure.row(
            f"{name} / {baseline}",
            f"{ratios[name]['rps_vs_plain_nginx']:.2f}x req/s, p99 {ratios[name]['p99_vs_plain_nginx']:.2f}x "
            f"({ratios[name]['rps_vs_straight']:.2f}x straight)",
        )
    echo = {
        "vs_straight": results[ECHO_PROXY]["messages_per_s"] / results[ECHO_STRAIGHT]["messages_per_s"],
        "vs_plain_nginx": results[ECHO_PROXY]["messages_per_s"] / results[ECHO_PLAIN]["messages_per_s"],
    }
    ratios["websocket echo"] = echo
    figure.row(
        "websocket echo, proxy / plain nginx",
        f"{echo['vs_plain_nginx']:.2f}x messages/s ({echo['vs_straight']:.2f}x straight)",
    )
    figure.data["ratios"] = ratios
    return figure


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, default=ROOT / ".build" / "bench" / "proxy.json")
    args = parser.parse_args(argv)
    result = run(args.seconds, args.connections)
    write_json(args.json, {"machine": machine(), "figure": result.data})
    print(table([result]))


if __name__ == "__main__":
    main()
