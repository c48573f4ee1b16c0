"""A project's terminal through the proxy: one key typed at bash's prompt, timed until readline's echo of
it comes back, again and again; against the same byte-by-byte echo from a plain WebSocket echo server
(tests/integration/ws_echo_server.py) in the same container, through the preview route. The two
alternate over rounds, on one connection each.
"""

from __future__ import annotations

import time

from docker import DockerClient
from websockets.sync.client import ClientConnection, connect

from bench.measure import Figure, latency_rows, percentile, running_project, serve_in, shares, summary_ms
from tests.stack import ROOT, Appliance

ECHO_SERVER = ROOT / "tests" / "integration" / "ws_echo_server.py"
ECHO_PORT = 8765
ROUNDS = 3
KEYS = b"abcdefghijklmnopqrstuvwxyz"
LINE = 40  # keys typed before the line is cleared, so that it never wraps
CLEAR = b"\x15"  # ^U: readline kills the line
QUIET_SECONDS = 0.3  # no output for this long: the shell has drawn what it had to


def settle(socket: ClientConnection, seconds: float = 30) -> bytes:
    """Read until the terminal has said something and then nothing for QUIET_SECONDS; what it said."""
    seen, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen += socket.recv(timeout=QUIET_SECONDS)
        except TimeoutError:
            if seen:
                return seen
    raise RuntimeError(f"the terminal never settled; it said {seen!r}")


def echoed(socket: ClientConnection, key: int) -> float:
    """Seconds from sending the one byte `key` until it comes back."""
    started = time.perf_counter()
    socket.send(bytes([key]))
    seen = b""
    while key not in seen:
        seen += socket.recv(timeout=10)
    return time.perf_counter() - started


def typed(socket: ClientConnection, count: int, clear: bool) -> list[float]:
    """`count` keys' round trips; with `clear`, the shell's line is killed every LINE keys."""
    seconds = []
    for i in range(count):
        if clear and i and i % LINE == 0:
            socket.send(CLEAR)
            settle(socket)
        seconds.append(echoed(socket, KEYS[i % len(KEYS)]))
    return seconds


def open_socket(appliance: Appliance, path: str) -> ClientConnection:
    url = appliance.url.replace("http://", "ws://") + path
    return connect(url, additional_headers={"x-api-key": appliance.api_key}, open_timeout=60)


def measure(appliance: Appliance, engine: DockerClient, keys: int) -> dict:
    project, container = running_project(appliance, engine, "t")
    serve_in(container, ["python3", "-c", ECHO_SERVER.read_text(), str(ECHO_PORT)], ECHO_PORT)
    runs: dict[str, list[float]] = {"terminal": [], "echo server": []}
    with (
        open_socket(appliance, f"/agent/terminal/{project}") as shell,
        open_socket(appliance, f"/proxy/{project}/{ECHO_PORT}/") as echo,
    ):
        settle(shell)  # the prompt
        for share in shares(keys, ROUNDS):
            runs["terminal"].extend(typed(shell, share, clear=True))
            shell.send(CLEAR)
            settle(shell)
            runs["echo server"].extend(typed(echo, share, clear=False))
    results: dict = {name: summary_ms(done) for name, done in runs.items()}
    results["p50_vs_echo_server"] = percentile(runs["terminal"], 50) / percentile(runs["echo server"], 50)
    return results


def run(appliance: Appliance, engine: DockerClient, keys: int) -> Figure:
    results = measure(appliance, engine, keys)
    figure = Figure(f"terminal echo ({results['terminal']['n']} keys, one byte each)")
    figure.data = results
    latency_rows(
        figure,
        results,
        {"terminal": "bash's echo via /agent/terminal", "echo server": "echo server via preview, baseline"},
    )
    figure.row("p50 terminal / echo server (target p50 <= 5 ms)", f"{results['p50_vs_echo_server']:.2f}x")
    return figure
