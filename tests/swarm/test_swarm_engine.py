"""appliance/engines/swarm/ on a real swarm of three nodes (make test-swarm): agents run as
services on worker nodes, answer across nodes on their overlay, cannot reach each other's overlay,
and are found, claimed, paused, reported when they die and removed as the lifecycle needs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
from collections.abc import Iterator

import docker
import pytest

from appliance.engines.engine import Container, ContainerGone, NameGone, NameTaken
from appliance.engines.firewall import FirewallError
from appliance.engines.swarm import SwarmEngine
from appliance.errors import ContainerFailed, EngineUnavailable
from appliance.labels import labels_for
from tests.eventually import eventually
from tests.stack import ROOT
from tests.swarm.conftest import AGENTS, agent_spec, node_of, registry, running_task, worker_docker

pytestmark = pytest.mark.timeout(300)

# Asks the runner at ADDRESS for its gRPC health, from a container on NETWORK (on the manager node).
HEALTH = """
import grpc, sys
from grpc_health.v1 import health_pb2, health_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
try:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
except grpc.RpcError as exc:
    print(exc.code().name)
"""


def health_from(engine: docker.DockerClient, network: str, address: str) -> str:
    output = engine.containers.run(
        "rcoder/gateway:dev", ["python3", "-c", HEALTH, f"{address}:50051"], network=network, remove=True
    )
    return output.decode().strip()


def overlay(container: Container) -> str:
    """The workload's own overlay network."""
    return container.labels["rcoder.network"]


def test_an_agent_runs_on_a_worker_as_a_locked_down_service_and_answers_across_nodes(engine, swarm, stack):
    network = f"rcoder-{stack}-agents"

    container = asyncio.run(swarm.start(agent_spec(stack, "p1", network)))

    assert container.running and container.ip and container.name == f"rcoder-{stack}-agent-p1"
    assert node_of(engine, container.id).startswith("rcoder-swarm-worker-"), "scheduled on a worker"
    assert health_from(engine, overlay(container), container.ip) == "SERVING", "the manager's side reaches it"
    spec = engine.services.list(filters={"label": f"rcoder.stack={stack}"})[0].attrs["Spec"]
    template = spec["TaskTemplate"]
    assert template["Resources"]["Limits"] == {"NanoCPUs": 10**9, "MemoryBytes": 1024**3, "Pids": 1024}
    assert template["ContainerSpec"]["ReadOnly"] is True
    assert template["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
    assert template["RestartPolicy"]["Condition"] == "none"
    assert worker_docker(engine, container.id, "exec", "id", "-un") == "agent"
    assert [c.id for c in asyncio.run(swarm.find({"rcoder.stack": stack}))] == [container.id]


def test_an_agent_cannot_reach_another_projects_agent_on_its_own_overlay(engine, swarm, stack):
    network = f"rcoder-{stack}-agents"  # the same group: each still gets an overlay of its own
    one = asyncio.run(swarm.start(agent_spec(stack, "p1", network)))
    two = asyncio.run(swarm.start(agent_spec(stack, "p2", network)))
    connect = "import socket; socket.create_connection(('{0}', 50051), timeout=3); print('open')"

    attempt = worker_docker(engine, one.id, "exec", "python3", "-c", connect.format(two.ip))

    assert "open" not in attempt.splitlines(), attempt
    assert worker_docker(engine, one.id, "exec", "python3", "-c", connect.format(one.ip)) == "open", "itself"
    assert overlay(two) != overlay(one)
    assert health_from(engine, overlay(two), two.ip) == "SERVING", "while its own overlay reaches it"


def test_a_claim_moves_the_name_once_and_a_taken_name_is_refused(engine, swarm, stack):
    network = f"rcoder-{stack}-agents"
    spec = agent_spec(stack, "p1", network)
    pooled = dataclasses.replace(spec, name=f"rcoder-{stack}-pool-1")
    asyncio.run(swarm.start(pooled))

    claimed = asyncio.run(swarm.rename(pooled.name, spec.name))

    assert claimed.name == spec.name and claimed.running
    assert asyncio.run(swarm.find_named(pooled.name)) is None
    with pytest.raises(NameGone):
        asyncio.run(swarm.rename(pooled.name, f"rcoder-{stack}-agent-p2"))
    with pytest.raises(NameTaken):
        asyncio.run(swarm.start(spec))


def test_pause_scales_to_zero_and_unpause_runs_a_new_task(engine, swarm, stack):
    network = f"rcoder-{stack}-agents"
    started = asyncio.run(swarm.start(agent_spec(stack, "p1", network)))
    first_task = running_task(engine, started.id)["ID"]

    asyncio.run(swarm.pause(started.id))
    paused = asyncio.run(swarm.inspect(started.id))
    tasks_while_paused = engine.api.tasks(filters={"service": started.id})
    resumed = asyncio.run(swarm.unpause(paused))

    assert paused.paused and tasks_while_paused == [], "its memory is freed"
    assert resumed.running and running_task(engine, started.id)["ID"] != first_task
    assert resumed == asyncio.run(swarm.inspect(started.id))
    assert health_from(engine, overlay(resumed), resumed.ip) == "SERVING"


def test_a_paused_workload_leaves_the_attached_containers_and_unpause_joins_them_again(
    engine, stack, no_docker_login
):
    """The gateway and the proxy hold an interface on each running workload's overlay, none on a
    paused one's (they would pile up), and reach the workload again once it is unpaused."""
    attached = engine.containers.run(
        "rcoder/gateway:dev", ["sleep", "infinity"], name=f"rcoder-{stack}-attached", detach=True
    )
    try:
        swarm = SwarmEngine(
            "", 30, [AGENTS], False, attach=[attached.name], start_seconds=90, registry_login=registry().login
        )
        started = asyncio.run(swarm.start(agent_spec(stack, "p1", f"rcoder-{stack}-agents")))

        def networks() -> set[str]:
            attached.reload()
            return set(attached.attrs["NetworkSettings"]["Networks"])

        while_running = networks()
        asyncio.run(swarm.pause(started.id))
        # What the gateway does at start and every REJOIN_POLLS polls: a paused workload is left out.
        asyncio.run(swarm.ensure_network(f"rcoder-{stack}-agents", labels_for(stack, "network")))
        while_paused = networks()
        resumed = asyncio.run(swarm.unpause(asyncio.run(swarm.inspect(started.id))))

        assert overlay(started) in while_running
        assert overlay(started) not in while_paused
        assert overlay(resumed) in networks()
        reach = attached.exec_run(["python3", "-c", HEALTH, f"{resumed.ip}:50051"])
        assert reach.output.decode().strip() == "SERVING", "the attached container reaches it again"
    finally:
        attached.remove(force=True)


def test_a_task_that_dies_and_a_service_removed_are_reported(engine, swarm, stack):
    network = f"rcoder-{stack}-agents"
    dying = asyncio.run(swarm.start(agent_spec(stack, "p1", network)))
    removed = asyncio.run(swarm.start(agent_spec(stack, "p2", network)))

    async def watch() -> list[ContainerGone]:
        seen: list[ContainerGone] = []
        events = swarm.events({"rcoder.stack": stack})
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(2)  # the first poll has seen both running
        worker_docker(engine, dying.id, "kill")
        await swarm.remove(removed.id)
        seen.append(await asyncio.wait_for(first, 30))
        seen.append(await asyncio.wait_for(anext(events), 30))
        await events.aclose()
        return seen

    seen = asyncio.run(watch())

    assert {(g.container_id, g.action) for g in seen} == {(dying.id, "die"), (removed.id, "destroy")}
    assert {g.name for g in seen} == {dying.name, removed.name}
    assert next(g for g in seen if g.action == "die").exit_code == 137


def test_a_service_that_cannot_start_fails_with_its_reason_and_leaves_nothing(engine, swarm, stack):
    network = f"rcoder-{stack}-agents"
    spec = dataclasses.replace(agent_spec(stack, "p1", network), image="rcoder/no-such-image:1")

    with pytest.raises(ContainerFailed, match="did not start"):
        asyncio.run(swarm.start(spec))

    assert engine.services.list(filters={"label": f"rcoder.stack={stack}"}) == []
    assert engine.networks.list(filters={"label": f"rcoder.stack={stack}"}) == [], "nor its overlay"


def test_a_removed_workloads_overlay_goes_after_it(engine, swarm, stack):
    started = asyncio.run(swarm.start(agent_spec(stack, "p1", f"rcoder-{stack}-agents")))

    async def remove() -> list:
        await swarm.remove(started.id)
        for _ in range(120):
            if not (left := engine.networks.list(names=[overlay(started)])):
                return left
            await asyncio.sleep(0.5)
        return left

    assert asyncio.run(remove()) == []
    assert engine.services.list(filters={"label": f"rcoder.stack={stack}"}) == []


@pytest.fixture
def new_image(engine, stack, tmp_path) -> Iterator[str]:
    """An agent image no node has (a label of its own), pushed to the registry (the manager's docker
    CLI is logged in to it: scripts/lib/registry-up)."""
    image = f"{registry().address}/rcoder/pull-test:{stack}"
    (tmp_path / "Dockerfile").write_text(f"FROM {registry().image('agent')}\nLABEL rcoder.test={stack}\n")
    engine.images.build(path=str(tmp_path), tag=image, rm=True, forcerm=True)
    for line in engine.api.push(image, stream=True, decode=True):
        assert "error" not in line, line
    yield image
    engine.images.remove(image)


def test_a_node_pulls_a_new_image_by_its_digest_with_the_credentials_the_engine_gave(
    engine, swarm, stack, new_image
):
    """No node has the image, none is logged in to the registry, and neither is this process (the
    fixture's engine reads no docker config): the service's nodes pull with the engine's account."""
    digest = engine.images.get_registry_data(new_image).id

    container = asyncio.run(swarm.start(dataclasses.replace(agent_spec(stack, "p1", "x"), image=new_image)))

    image = engine.services.get(container.id).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image == f"{new_image}@{digest}", "every node runs the bytes the registry had"
    assert container.running and node_of(engine, container.id).startswith("rcoder-swarm-worker-")
    assert worker_docker(engine, container.id, "inspect", "-f", "{{.Config.Image}}") == image


def test_without_the_registrys_account_a_start_fails_clearly_and_leaves_nothing(
    engine, stack, new_image, no_docker_login
):
    anonymous = SwarmEngine("", 30, [AGENTS], encrypted=False, start_seconds=90)
    spec = dataclasses.replace(agent_spec(stack, "p1", "x"), image=new_image)

    with pytest.raises(EngineUnavailable, match=f"the registry {registry().address} does not give image"):
        asyncio.run(anonymous.start(spec))

    assert engine.services.list(filters={"label": f"rcoder.stack={stack}"}) == []
    assert engine.networks.list(filters={"label": f"rcoder.stack={stack}"}) == [], "nor an overlay"


def test_a_guard_whose_image_the_registry_refuses_is_a_firewall_error_and_is_not_made(
    engine, stack, no_docker_login
):
    """The gateway then starts no workload and says why (as when iptables fails on one host)."""
    anonymous = SwarmEngine("", 30, [AGENTS], encrypted=False, start_seconds=90)

    with pytest.raises(FirewallError, match="cannot hold the host firewall: the registry"):
        asyncio.run(anonymous.guard_nodes(stack, registry().image("gateway"), [], None))

    assert engine.services.list(filters={"label": f"rcoder.stack={stack}"}) == []


@contextlib.contextmanager
def joined_worker(engine: docker.DockerClient, number: int) -> Iterator[tuple[str, str]]:
    """A worker that joins now (scripts/lib/swarm-worker, nothing pulled ahead): its node id and address;
    taken out of the swarm again afterwards."""
    name = f"rcoder-swarm-worker-{number}"
    joined = subprocess.run(
        ["bash", "scripts/lib/swarm-worker", str(number)],
        env={**os.environ, "RCODER_SWARM_PULL": ""},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert joined.returncode == 0, joined.stderr
    node_id = joined.stdout.strip()
    try:
        yield node_id, engine.nodes.get(node_id).attrs["Status"]["Addr"]
    finally:
        engine.containers.get(name).remove(force=True)
        engine.volumes.get(name).remove(force=True)
        engine.api.remove_node(node_id, force=True)


def guard_of(engine: docker.DockerClient, stack: str):
    [guard] = [
        s
        for s in engine.services.list(filters={"label": f"rcoder.stack={stack}"})
        if "Global" in s.attrs["Spec"]["Mode"]
    ]
    return guard


def test_a_node_that_joins_later_gets_a_guard_and_the_other_nodes_deny_it(engine, swarm, stack):
    asyncio.run(swarm.guard_nodes(stack, registry().image("gateway"), [], None))
    agent = asyncio.run(swarm.start(agent_spec(stack, "p1", "x")))  # on worker 1 or 2
    with joined_worker(engine, 3) as (node_id, address):
        before = guard_of(engine, stack).attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"]

        asyncio.run(swarm.reguard())  # what the gateway's event loop does every REJOIN_POLLS polls

        guard = guard_of(engine, stack)
        after = guard.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Command"]
        on_new_node = lambda: [  # noqa: E731
            t
            for t in guard.tasks({"node": node_id, "desired-state": "running"})
            if t["Status"]["State"] == "running"
        ]
        eventually(on_new_node, 180, "the guard running on the node that joined")
        eventually(
            lambda: all(t["Status"]["State"] == "running" for t in guard.tasks({"desired-state": "running"})),
            120,
            "the guard made anew running on every node",
        )
        connect = f"import socket; socket.create_connection(('{address}', 7946), timeout=3); print('open')"
        attempt = worker_docker(engine, agent.id, "exec", "python3", "-c", connect)

    assert f"--deny={address}/32" not in before and f"--deny={address}/32" in after
    assert "open" not in attempt.splitlines(), f"an agent on {node_of(engine, agent.id)} reached the new node"
