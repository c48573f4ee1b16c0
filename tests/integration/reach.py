"""Probing what a container can connect to, from inside it, as the code running there would."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator

from tests.stack import image

# Runs inside the container: try each (host, port) once, in parallel; print what happened to each.
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor

def attempt(target):
    host, port = target
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return f"unreachable ({exc.strerror})"

targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(32) as pool:
    print(json.dumps([[host, port, result] for (host, port), result in zip(targets, pool.map(attempt, targets))]))
"""


def host_addresses(interface: str | None = None) -> list[str]:
    """Every IPv4 address of this host's interfaces (bridge gateways included), loopback aside; or of one."""
    command = ["ip", "-j", "-4", "addr", *(["show", "dev", interface] if interface else [])]
    listing = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
    return sorted(
        info["local"]
        for interface in listing
        for info in interface.get("addr_info", [])
        if not info["local"].startswith("127.")
    )


METADATA = ("169.254.169.254", 80)
DOCKER_API_PORTS = (2375, 2376)
SSH_PORT = 22


def host_targets(*ports: int) -> list[tuple[str, int]]:
    """What code in a container would try on the host: every address of it on `ports`, Docker's API
    and SSH, and the cloud metadata service."""
    every = (*ports, *DOCKER_API_PORTS, SSH_PORT)
    return [(address, port) for address in host_addresses() for port in every] + [METADATA]


def reach(container, targets: list[tuple[str, int]], timeout: float = 2.0) -> dict[tuple[str, int], str]:
    """What happened to a connection from inside `container` to each target: open, refused, timeout, ..."""
    script = PROBE.replace("TIMEOUT", str(timeout))
    result = container.exec_run(["python3", "-c", script, json.dumps(targets)])
    assert result.exit_code == 0, result.output.decode()
    return {(host, port): outcome for host, port, outcome in json.loads(result.output)}


def opened(outcomes: dict[tuple[str, int], str]) -> list[str]:
    return [f"{host}:{port}" for (host, port), outcome in outcomes.items() if outcome == "open"]


@contextlib.contextmanager
def outsider(engine, stack: str) -> Iterator:
    """A container of the agent image on Docker's default bridge, outside the appliance's networks."""
    container = engine.containers.run(
        image("agent"),
        ["sleep", "120"],
        detach=True,
        network="bridge",
        labels={"rcoder.stack": stack, "rcoder.kind": "test-outsider"},
    )
    try:
        yield container
    finally:
        container.remove(force=True)
