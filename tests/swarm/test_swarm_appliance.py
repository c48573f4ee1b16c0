"""The appliance on a real swarm (docker-compose.swarm.yml; make test-swarm): the gateway and the proxy
on this manager node, each project's agent a service on a worker node, reached over its own overlay."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from websockets.sync.client import connect

from tests.eventually import eventually
from tests.integration.audio import record_rms
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_across, read_all
from tests.stack import Appliance, run_appliance
from tests.swarm.conftest import appliance_settings, node_of, registry, running_task, worker_docker

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def appliance(engine: docker.DockerClient) -> Iterator[Appliance]:
    with run_appliance(engine, swarm=True, **appliance_settings()) as appliance:
        yield appliance


@pytest.fixture(autouse=True)
def remove_services_after_each_test(engine, appliance) -> Iterator[None]:
    """Each test starts on an empty swarm, so that Swarm spreads its services over both workers (the
    gateway's guard, the one global service, stays)."""
    yield
    for service in engine.services.list(filters={"label": f"rcoder.stack={appliance.stack}"}):
        if "Global" not in service.attrs["Spec"]["Mode"]:
            service.remove()


def agent_service(engine: docker.DockerClient, appliance: Appliance, project: str):
    [service] = engine.services.list(
        filters={"label": [f"rcoder.stack={appliance.stack}", f"rcoder.project={project}"]}
    )
    return service


def test_a_chat_on_a_new_project_streams_from_its_agent_on_a_worker_node(engine, appliance):
    project = project_id()
    with appliance.client() as client:
        data = chat(client, project, "create hello.txt")
        events = read_all(client, data["session_id"])

    kinds = [e.event for e in events]
    assert kinds[0] == "prompt_start" and kinds[-1] == "end_turn", kinds
    reply = "".join(e.data["data"]["content"]["text"] for e in events if e.event == "agent_message_chunk")
    assert "I wrote hello.txt" in reply
    assert node_of(engine, agent_service(engine, appliance, project).id).startswith("rcoder-swarm-worker-")


def test_a_gateway_restart_mid_turn_adopts_the_service_and_the_client_resumes(engine, appliance):
    project = project_id()
    with appliance.client() as client:
        session = chat(client, project, "wait 6 then create after-restart.txt")["session_id"]
        before = agent_service(engine, appliance, project).id
        events = read_across(client, session, lambda: appliance.restart_gateway(engine))

    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "every event exactly once, in order"
    assert events[-1].event == "end_turn"
    assert agent_service(engine, appliance, project).id == before, "the service was adopted, not replaced"


# From inside an agent: connect to ADDRESS:PORT and say whether it opened.
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("open")
except OSError as exc:
    print(type(exc).__name__)
"""


def test_an_agent_reaches_neither_another_projects_agent_nor_the_gateway(engine, appliance):
    first, second = project_id(), project_id()
    with appliance.client() as client:
        for project in (first, second):
            read_all(client, chat(client, project, "hello")["session_id"])
    one, two = (agent_service(engine, appliance, project) for project in (first, second))
    other = task_address(engine, two)
    appliance.restart_gateway(engine)  # it starts again already on the agents' overlays
    overlay = one.attrs["Spec"]["Labels"]["rcoder.network"]
    gateway = address_on(appliance.gateway(engine), overlay)
    proxy = address_on(engine.containers.get(f"rcoder-{appliance.stack}-proxy"), overlay)

    def attempt(address: str, port: int) -> str:
        return worker_docker(engine, one.id, "exec", "python3", "-c", CONNECT, address, str(port))

    assert node_of(engine, one.id) != node_of(engine, two.id), "spread over the two workers"
    assert attempt(other, 50051) != "open", "another project's runner, on another overlay"
    assert attempt(gateway, port_of(appliance.gateway_url)) != "open", "the gateway's API"
    assert attempt(proxy, port_of(appliance.url)) != "open", "the proxy's public port, but from its front"
    assert attempt(proxy, appliance.control_port) != "open", "the proxy's control port"
    assert attempt(proxy, appliance.model_port) == "open", "while the model port is the agents' to use"
    nodes = {
        node.attrs["Description"]["Hostname"]: node.attrs["Status"]["Addr"] for node in engine.nodes.list()
    }
    own = nodes.pop(node_of(engine, one.id))
    assert attempt(own, 7946) != "open", "its own node (Swarm's gossip port)"
    for name, address in nodes.items():
        assert attempt(address, 7946) != "open", f"node {name}"
    assert attempt(registry().address.partition(":")[0], 5000) != "open", "the registry on the manager"


# Asks the registry at ADDRESS, without an account, which agent images it has: the HTTP status.
ANONYMOUS_PULL = """
import ssl, sys, urllib.error, urllib.request
url = f"https://{sys.argv[1]}/v2/rcoder/agent/tags/list"
try:
    urllib.request.urlopen(url, context=ssl._create_unverified_context(), timeout=5)
    print("200")
except urllib.error.HTTPError as exc:
    print(exc.code)
except urllib.error.URLError as exc:
    print(type(exc.reason).__name__)
"""


def test_an_agent_can_neither_use_the_registry_nor_find_its_password(engine, appliance):
    """The registry every node pulls from is not the agents' (pushing a changed agent image there would
    run in every later project): the guard on their node keeps them from the manager it runs on, and
    it would want an account anyway (401); its password is in no task."""
    project = project_id()
    with appliance.client() as client:
        read_all(client, chat(client, project, "hello")["session_id"])
    service = agent_service(engine, appliance, project)
    address = registry().address

    answer = worker_docker(engine, service.id, "exec", "python3", "-c", ANONYMOUS_PULL, address)
    environment = worker_docker(engine, service.id, "exec", "sh", "-c", "env; cat /proc/1/environ")
    inspected = worker_docker(engine, service.id, "inspect")

    assert answer == "401" or answer in ("ConnectionRefusedError", "TimeoutError"), answer
    assert registry().password not in environment + inspected + str(service.attrs)
    assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(
        f"{registry().image('agent')}@sha256:"
    ), "pinned to what the registry held"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def address_on(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def task_address(engine: docker.DockerClient, service) -> str:
    """The service's task's address on its own overlay."""
    [task] = [t for t in engine.api.tasks(filters={"service": service.id}) if t["DesiredState"] == "running"]
    [attachment] = task["NetworksAttachments"]
    return attachment["Addresses"][0].partition("/")[0]


def test_a_desktop_on_a_worker_opens_through_the_proxy(engine, appliance):
    user = f"u{project_id()}"
    with appliance.client() as client:
        desktop = client.get(f"/computer/desktop/{user}/p1", timeout=120).json()["data"]

        def novnc_ready() -> bool:
            status = client.get("/computer/pod/vnc-status", params={"user_id": user}).json()["data"]
            return status["novnc_ready"]

        eventually(novnc_ready, 60, "the desktop showing noVNC")
    [service] = engine.services.list(
        filters={"label": [f"rcoder.stack={appliance.stack}", f"rcoder.user={user}"]}
    )
    base = f"{appliance.url.replace('http://', 'ws://')}/computer"
    token = f"rcoder_token={desktop['token']}"

    with connect(f"{base}/vnc/{user}/p1/websockify?{token}", subprotocols=["binary"]) as vnc:
        greeting = vnc.recv(timeout=10)
    with connect(f"{base}/ime/{user}/p1/?{token}") as ime:
        ime.send("ping")
        answer = ime.recv(timeout=10)
    samples, _ = record_rms(f"{base}/audio/{user}/p1/ws?format=pcm&{token}", seconds=1)

    assert node_of(engine, service.id).startswith("rcoder-swarm-worker-")
    assert bytes(greeting).startswith(b"RFB "), greeting
    assert answer == "pong"
    assert samples > 0, "the audio stream flows"


def test_a_drained_nodes_project_is_refused_clearly_and_finds_its_workspace_when_the_node_returns(
    engine, appliance
):
    """Workspaces are node-local volumes (docs/scale-out.md §2.5): a project stays on its workspace's node."""
    project = project_id()
    with appliance.client() as client:
        read_all(client, chat(client, project, "create hello.txt")["session_id"])
        service = agent_service(engine, appliance, project)
        node = engine.nodes.get(running_task(engine, service.id)["NodeID"])
        set_availability(node, "drain")
        try:
            eventually(lambda: not running_tasks(engine, service.id), 60, "the drained node's task stopping")
            refused = client.post("/chat", json={"prompt": "hello", "project_id": project})
        finally:
            set_availability(node, "active")
        after = chat(client, project, "hello")
        events = read_all(client, after["session_id"])
        service = agent_service(engine, appliance, project)

    assert refused.status_code == 503, refused.text
    name = node.attrs["Description"]["Hostname"]
    assert f"on swarm node {name}, which is drain" in refused.json()["message"]
    assert events[-1].event == "end_turn"
    assert node_of(engine, service.id) == name, "back on the node its workspace is on"
    found = worker_docker(engine, service.id, "exec", "cat", "/app/project_workspace/hello.txt")
    assert found == "Hello from the RCoder demo agent!"


def set_availability(node, availability: str) -> None:
    node.reload()
    node.update({**node.attrs["Spec"], "Availability": availability})


def running_tasks(engine: docker.DockerClient, service_id: str) -> list:
    tasks = engine.api.tasks(filters={"service": service_id})
    return [t for t in tasks if t["Status"]["State"] == "running" and t["DesiredState"] == "running"]
