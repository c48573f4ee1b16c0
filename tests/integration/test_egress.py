"""The egress policy holds from inside an agent container: under "allowlist" it reaches only the
networks and host names the operator named, under "none" nothing (agents reach their model through the
appliance's model port; with that port off, the model provider's host stays open under both);
"allow" (the default) reaches anywhere. "Anywhere" here is servers this test runs in a
network namespace of its own, which the host routes to as it routes to the internet; a container
outside the appliance's networks reaches all of them (the control: the test network works, so a
refusal is the policy's doing).
"""

from __future__ import annotations

import contextlib
import random
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address

import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.reach import opened, outsider, reach
from tests.integration.sse import read_all
from tests.stack import agent_containers, run_appliance

pytestmark = pytest.mark.engine

PORT = 8000
NAME = "egress-named.test"


@dataclass(frozen=True)
class Outside:
    """Four addresses with a web server on PORT, beyond the host."""

    allowed: str  # named by its network in the allowlist
    model: str  # the default model provider's host
    named: str  # reachable under the allowlist once NAME resolves to it
    other: str  # named by nothing

    def targets(self) -> list[tuple[str, int]]:
        return [(address, PORT) for address in (self.allowed, self.model, self.named, self.other)]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    """A network namespace joined to the host by a veth pair, in a random /29 of 198.18.0.0/15 (the
    benchmarking range), with one web server answering on four of its addresses."""
    suffix = uuid.uuid4().hex[:6]
    namespace, host_side, inner = f"rcoder-egress-{suffix}", f"rce{suffix}h", f"rce{suffix}n"
    base = IPv4Address("198.18.0.0") + 8 * random.randrange(2**14)
    first, *addresses = (str(base + n) for n in range(1, 6))
    ip("netns", "add", namespace)
    try:
        ip("link", "add", host_side, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", namespace)
        ip("addr", "add", f"{first}/29", "dev", host_side)
        ip("link", "set", host_side, "up")
        for address in addresses:
            ip("-n", namespace, "addr", "add", f"{address}/29", "dev", inner)
        ip("-n", namespace, "link", "set", inner, "up")
        serve = ["ip", "netns", "exec", namespace, sys.executable, "-m", "http.server", str(PORT)]
        with subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
            try:
                eventually(lambda: listening(addresses[0]), 20, "the outside server listening")
                yield Outside(*addresses)
            finally:
                server.kill()
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
        subprocess.run(["ip", "link", "del", host_side], check=False, capture_output=True)


def listening(address: str) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, PORT), timeout=1):
        return True
    return False


def agent_container(appliance, engine):
    """A new project's container, once its first turn has ended (a whole turn ran through the policy)."""
    project = project_id()
    with appliance.client() as client:
        session = chat(client, project, "hello")["session_id"]
        assert read_all(client, session)[-1].event == "end_turn"
    [container] = agent_containers(engine, appliance.stack, project)
    return container


def reached(container, outside: Outside) -> list[str]:
    return sorted(opened(reach(container, outside.targets())))


def at(*addresses: str) -> list[str]:
    return sorted(f"{address}:{PORT}" for address in addresses)


def settings(policy: str, outside: Outside, allow: str = "") -> dict[str, str]:
    return {
        "RCODER_EGRESS_POLICY": policy,
        "RCODER_EGRESS_ALLOW": allow,
        "RCODER_EGRESS_REFRESH_SECONDS": "1",
        "RCODER_MODEL_PROVIDER_ID": "egress-test",
        "RCODER_MODEL_PROVIDER_BASE_URL": f"http://{outside.model}:{PORT}/v1",
        "RCODER_WARM_POOL_SIZE": "0",
    }


def test_the_outside_is_reachable_without_the_appliance(engine, outside):
    with outsider(engine, "egress-control") as container:
        assert reached(container, outside) == at(*vars(outside).values())


def test_under_the_default_policy_an_agent_reaches_anywhere(appliance, engine, outside):
    container = agent_container(appliance, engine)
    assert reached(container, outside) == at(*vars(outside).values())


def test_an_allowlist_admits_only_what_it_names_and_follows_a_name(engine, outside):
    allow = f"{outside.allowed}/32, {NAME}"
    with run_appliance(engine, **settings("allowlist", outside, allow)) as appliance:
        container = agent_container(appliance, engine)
        outcomes = reach(container, outside.targets())
        assert sorted(opened(outcomes)) == at(outside.allowed), outcomes
        assert outcomes[(outside.other, PORT)] == "refused", "a rejection, not a silent drop"

        # NAME starts resolving (for the gateway) to an address: the rules follow within a refresh.
        gateway = engine.containers.get(f"rcoder-{appliance.stack}-gateway")
        hosts = f"echo '{outside.named} {NAME}' >> /etc/hosts"
        assert gateway.exec_run(["sh", "-c", hosts]).exit_code == 0
        eventually(
            lambda: reached(container, outside) == at(outside.allowed, outside.named),
            20,
            f"{NAME} becoming reachable",
        )
        # ...and stops resolving: the address is closed again.
        forget = f"kept=$(grep -v '{NAME}' /etc/hosts); printf '%s\\n' \"$kept\" > /etc/hosts"
        assert gateway.exec_run(["sh", "-c", forget]).exit_code == 0
        eventually(
            lambda: reached(container, outside) == at(outside.allowed),
            20,
            f"{NAME} becoming unreachable",
        )


def test_under_none_an_agent_reaches_nothing_beyond_the_host(engine, outside):
    with run_appliance(engine, **settings("none", outside, allow=f"{outside.allowed}/32")) as appliance:
        container = agent_container(appliance, engine)
        assert reached(container, outside) == []


def test_without_the_model_port_the_model_provider_stays_reachable(engine, outside):
    with run_appliance(engine, **settings("none", outside), RCODER_MODEL_PORT="0") as appliance:
        container = agent_container(appliance, engine)
        assert reached(container, outside) == at(outside.model)
