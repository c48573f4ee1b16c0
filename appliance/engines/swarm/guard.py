"""The host firewall on every node of a swarm: a global service (the guard) that runs `rcoder-firewall
hold` (appliance/engines/firewall.py) on each node workloads may run on, in the node's own network
namespace with NET_ADMIN. A task leaves its node by the `docker_gwbridge` bridge: the guard rejects its
new connections to the node itself (but for the operator's open ports), to link-local metadata
addresses, to every node of the swarm, and, under an egress policy, to anywhere not allowed. The swarm
engine starts a workload only on a node where the guard's task runs, which it does once its health
check finds the rules in place."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import docker.errors
from docker.types import ContainerSpec as SwarmContainerSpec
from docker.types import Healthcheck, Mount, Placement, RestartPolicy, ServiceMode, TaskTemplate

from appliance import labels as label_keys
from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.firewall import READY_FILE, FirewallError
from appliance.engines.swarm.registry import Registry
from appliance.engines.swarm.services import POLL_PAUSE_SECONDS, service_name
from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

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


class Guard:
    """The stack's guard service, on every node the workloads' `constraints` allow; `start_seconds`: how
    long it may take to hold everywhere. The methods that do not await block: they run through
    `DockerSdk.run`."""

    def __init__(
        self, sdk: DockerSdk, registry: Registry, constraints: list[str], start_seconds: float
    ) -> None:
        self._sdk = sdk
        self._registry = registry
        self._constraints = constraints
        self._start_seconds = start_seconds
        self._id = ""  # the guard service, once `hold` made it
        self._args: tuple[str, str, list[int], list[str] | None] | None = None
        self._denies: set[str] = set()  # the node addresses the guard's rules deny

    async def hold(
        self, stack: str, image: str, open_ports: Sequence[int], egress: Sequence[str] | None
    ) -> None:
        """Hold the host firewall on every node workloads may run on and wait until it holds on each;
        from then on a workload starts only on a node where it does. FirewallError if it does not hold
        everywhere within the start time, or the engine refuses (e.g. the registry refuses the guard's
        image)."""
        self._args = (stack, image, list(open_ports), list(egress) if egress is not None else None)
        try:
            self._id = await self._sdk.run(self._ensure, *self._args)
            tasks: list[dict[str, Any]] = []
            for _ in range(int(self._start_seconds / POLL_PAUSE_SECONDS)):
                tasks = await self._sdk.run(self._tasks)
                if tasks and all(task["Status"]["State"] == "running" for task in tasks):
                    log.info("the host firewall holds on %d swarm nodes", len(tasks))
                    return
                await asyncio.sleep(POLL_PAUSE_SECONDS)
        except ApplianceError as exc:
            raise FirewallError(f"the guard service cannot hold the host firewall: {exc.message}") from exc
        states = ", ".join(
            f"{t['NodeID'][:12]}: {t['Status'].get('Err') or t['Status']['State']}" for t in tasks
        )
        raise FirewallError(f"the host firewall does not hold on every swarm node ({states or 'no node'})")

    async def follow_nodes(self) -> None:
        """Make the guard anew if the swarm's nodes changed (a node that joins gets a guard task of
        its own at once, but the others deny its address only from then on)."""
        if self._args is None:
            return
        try:
            if await self._sdk.run(self._node_addresses) == self._denies:
                return
            self._id = await self._sdk.run(self._ensure, *self._args)
        except ApplianceError as exc:
            log.error("the guard could not follow the swarm's nodes (%s); trying again", exc.message)

    def _ensure(self, stack: str, image: str, open_ports: list[int], egress: list[str] | None) -> str:
        """The stack's guard service, made anew if its rules changed (the rules stay on the nodes
        meanwhile: `hold` never removes them)."""
        api = self._sdk.client().api
        denied = self._node_addresses()
        command = guard_command(stack, open_ports, egress, denied)
        pinned = self._registry.pinned(image)
        name = service_name(f"rcoder-{stack}-guard")
        for service in api.services(filters={"name": name}):
            container = service["Spec"]["TaskTemplate"]["ContainerSpec"]
            if service["Spec"]["Name"] != name:
                continue
            if container.get("Command") == command and container["Image"] == pinned:
                self._denies = denied
                return service["ID"]
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_service(service["ID"])
        template = guard_template(pinned, command, self._constraints)
        labels = label_keys.labels_for(stack, label_keys.KIND_GUARD)
        created = api.create_service(template, name=name, labels=labels, mode=ServiceMode("global"))
        self._denies = denied
        return created["ID"]

    def guarded(self, node_id: str) -> bool:
        """Whether the host firewall holds on the node (true where no guard is asked for)."""
        if not self._id:
            return True
        return any(t["NodeID"] == node_id and t["Status"]["State"] == "running" for t in self._tasks())

    def _node_addresses(self) -> set[str]:
        return node_addresses(self._sdk.client().api.nodes())

    def _tasks(self) -> list[dict[str, Any]]:
        """The guard's tasks meant to run; none when it was removed (no workload starts then)."""
        try:
            return self._sdk.client().api.tasks(filters={"service": self._id, "desired-state": "running"})
        except docker.errors.NotFound:
            return []
