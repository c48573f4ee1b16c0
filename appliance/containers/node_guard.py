"""The host firewall on every node of a swarm: a global service (the guard) that runs `rcoder-firewall
hold` (firewall.py) on each node workloads may run on, in the node's own network namespace with
NET_ADMIN. A task leaves its node by the `docker_gwbridge` bridge: the guard rejects its new connections
to the node itself (but for the operator's open ports), to link-local metadata addresses, to every
node of the swarm, and, under an egress policy, to anywhere not allowed. The swarm engine starts a
workload only on a node where the guard's task runs, which it does once its health check finds the
rules in place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from docker.types import ContainerSpec as SwarmContainerSpec
from docker.types import Healthcheck, Mount, Placement, RestartPolicy, TaskTemplate

from appliance.engines.firewall import READY_FILE

# The bridge a swarm task's traffic leaves its node by (anything not on its overlays).
GATEWAY_BRIDGE = "docker_gwbridge"
# The guard's health check: how often it looks for the ready file (nanoseconds, as the API counts).
CHECK_INTERVAL_NS = 500_000_000


def guard_command(
    stack: str, open_ports: Sequence[int], egress: Sequence[str] | None, denied: Iterable[str]
) -> list[str]:
    """`rcoder-firewall hold` for the stack's tasks on a node; `denied`: the swarm's node addresses."""
    command = ["rcoder-firewall", "hold", "--stack", stack, GATEWAY_BRIDGE]
    command += [f"--open-port={port}" for port in open_ports]
    command += [f"--deny={address}" for address in sorted(set(denied))]
    if egress is not None:
        command.append(f"--egress={','.join(egress)}")
    return command


def node_addresses(nodes: Iterable[dict[str, Any]]) -> set[str]:
    """The addresses the swarm's nodes have (as the manager knows them), as /32 networks."""
    addresses = set()
    for node in nodes:
        manager = (node.get("ManagerStatus") or {}).get("Addr", "")
        for address in (node.get("Status", {}).get("Addr", ""), manager.rpartition(":")[0]):
            if address and address not in ("0.0.0.0", "127.0.0.1"):
                addresses.add(f"{address}/32")
    return addresses


def guard_template(image: str, command: list[str], constraints: Sequence[str]) -> TaskTemplate:
    """One task per node the workloads' constraints allow, on the node's network, with only the
    capabilities iptables needs, healthy once the rules hold."""
    container = SwarmContainerSpec(
        image,
        command,
        mounts=[Mount("/run", None, type="tmpfs")],
        read_only=True,
        cap_drop=["ALL"],
        cap_add=["NET_ADMIN", "NET_RAW"],
        healthcheck=Healthcheck(
            test=["CMD", "test", "-e", READY_FILE],
            interval=CHECK_INTERVAL_NS,
            timeout=2 * 10**9,
            retries=3,
        ),
    )
    return TaskTemplate(
        container,
        networks=["host"],
        placement=Placement(constraints=list(constraints)),
        restart_policy=RestartPolicy(condition="any", delay=10**9),
    )
