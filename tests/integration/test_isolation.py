"""The host is out of reach of what runs in agent and desktop containers, and the gateway listens only
where it is configured to.

From inside an agent container and a desktop container, as their unprivileged user (where an agent's
code stands), every address of the host is tried on the gateway's and the proxy's ports, Docker's
API ports, SSH, and a canary port this test listens on (on all interfaces); and the cloud metadata
address. None may open. A container outside the appliance's networks does open the canary: without
the appliance's rules the attack works, so the test can fail.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.reach import host_addresses, host_targets, opened, outsider, reach
from tests.stack import agent_containers, run_appliance

pytestmark = pytest.mark.engine


@pytest.fixture
def canary() -> Iterator[int]:
    """A TCP server on every interface of the host: what a service bound to 0.0.0.0 looks like."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", 0))
        server.listen(64)
        yield server.getsockname()[1]


def port_of(url: str) -> int:
    return httpx.URL(url).port


def appliance_targets(appliance, canary: int) -> list[tuple[str, int]]:
    return host_targets(
        port_of(appliance.gateway_url), port_of(appliance.url), appliance.control_port, canary
    )


def bridge_gateway(engine) -> str:
    """The host's address on Docker's default bridge (docker0)."""
    bridge = engine.networks.get("bridge").attrs["Options"]["com.docker.network.bridge.name"]
    return host_addresses(bridge)[0]


def test_an_agent_container_reaches_nothing_on_the_host(appliance, client, engine, stack, canary):
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    own_runner = ("127.0.0.1", 50051)

    outcomes = reach(container, [*appliance_targets(appliance, canary), own_runner])

    assert outcomes.pop(own_runner) == "open", "the probe does see an open port (the container's own runner)"
    assert opened(outcomes) == [], outcomes


def test_a_desktop_container_reaches_nothing_on_the_host(appliance, client, engine, stack, canary):
    user = f"u{project_id()}"
    response = client.post("/computer/pod/ensure", json={"user_id": user, "project_id": "p1"}, timeout=120)
    assert response.status_code == 200, response.text
    labels = [f"rcoder.stack={stack}", f"rcoder.user={user}", "rcoder.kind=desktop"]
    [desktop] = engine.containers.list(filters={"label": labels})

    outcomes = reach(desktop, appliance_targets(appliance, canary))

    assert opened(outcomes) == [], outcomes


def test_the_host_port_the_operator_opens_is_the_only_one_a_container_reaches(
    appliance, client, engine, stack, model_port, canary
):
    """The suite's appliance opens one host port (host_open_ports); a listener there is reachable."""
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    gateway_address = engine.networks.get(f"rcoder-{stack}-agents").attrs["IPAM"]["Config"][0]["Gateway"]
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", model_port))
        server.listen(8)
        outcomes = reach(container, [(gateway_address, model_port), (gateway_address, canary)])
    assert opened(outcomes) == [f"{gateway_address}:{model_port}"], outcomes


def test_the_model_port_opens_to_the_stacks_containers_and_to_nobody_else(appliance, client, engine, stack):
    """Agents reach their model through the proxy's model port, which listens on every address: a
    container of the stack opens it, a container outside the stack's networks does not."""
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    host = engine.networks.get(f"rcoder-{stack}-agents").attrs["IPAM"]["Config"][0]["Gateway"]
    port = appliance.model_port
    assert listening(port) == ["0.0.0.0"]

    assert opened(reach(container, [(host, port)])) == [f"{host}:{port}"]
    with outsider(engine, stack) as other:
        outcomes = reach(other, [(host, port), (bridge_gateway(engine), port)])
    assert opened(outcomes) == [], outcomes


def test_a_container_outside_the_appliances_networks_does_reach_the_canary(engine, stack, canary):
    """The control: the same probe, from a container the appliance's rules do not cover, opens the canary."""
    with outsider(engine, stack) as container:
        outcomes = reach(container, [(bridge_gateway(engine), canary)])
    assert opened(outcomes) == [f"{bridge_gateway(engine)}:{canary}"]


def listening(port: int) -> list[str]:
    """The local addresses with a TCP socket listening on `port` in this (the host's) network namespace."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                addresses.append(str(ipaddress.ip_address(words)))
    return sorted(addresses)


def test_the_gateway_listens_on_loopback_only(appliance):
    assert listening(port_of(appliance.gateway_url)) == ["127.0.0.1"]


def test_the_gateway_listens_where_configured_and_its_internal_routes_answer_this_host_only(engine):
    address = bridge_gateway(engine)
    with run_appliance(engine, RCODER_GATEWAY_HOST=address) as appliance:
        port = port_of(appliance.gateway_url)
        assert listening(port) == [address], "the image passes no flag that beats RCODER_HOST"

        # The proxy, on this host, still gets its routing decisions from the gateway's internal route.
        refused = httpx.get(
            f"{appliance.url}/proxy/nothere/5173/", headers={"x-api-key": appliance.api_key}, timeout=10
        )
        assert refused.status_code == 404 and "has no running container" in refused.json()["message"]

        # A container (not on the appliance's networks, so no firewall rule stands in the way) reaches
        # the gateway's public routes, but its internal ones are not there for it.
        with outsider(engine, appliance.stack) as container:
            fetch = "import sys, urllib.request as u, urllib.error as e\ntry: print(u.urlopen(sys.argv[1], timeout=5).status)\nexcept e.HTTPError as x: print(x.code)"
            health = container.exec_run(["python3", "-c", fetch, f"http://{address}:{port}/health"])
            internal = container.exec_run(
                ["python3", "-c", fetch, f"http://{address}:{port}/internal/proxy-auth"]
            )
        assert health.output.decode().strip() == "200"
        assert internal.output.decode().strip() == "404"
