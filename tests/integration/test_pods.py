"""Pods (the seed's pod_id) on the real engine: projects that name one pod share its container, each with
its own agent process and its own folder laid out by tenant and space; another pod is another container;
a project stays in its pod; stopping one project's agent leaves the pod to the others; and a project's
preview token opens only that project's previews, pod or no pod."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.stack import agent_containers, containers

pytestmark = pytest.mark.engine

PLACE = {"tenant_id": "acme", "space_id": "web", "isolation_type": "space"}
WORKSPACE = "/app/project_workspace/acme/web"
# The working directories of the container's processes, as the agents' user sees them.
CWDS = "for p in /proc/[0-9]*; do readlink $p/cwd; done 2>/dev/null; true"


def pod_id() -> str:
    return f"pod{uuid.uuid4().hex[:8]}"


def pods(engine, stack: str, pod: str) -> list:
    return containers(engine, name=f"^/rcoder-{stack}-pod-{pod}$")


def chat_in_pod(client, project: str, pod: str, prompt: str = "hello") -> list:
    data = chat(client, project, prompt, pod_id=pod, **PLACE)
    return read_all(client, data["session_id"])


def test_two_projects_of_one_pod_share_its_container_and_another_pod_gets_its_own(client, engine, stack):
    shared_pod, other_pod = pod_id(), pod_id()
    p1, p2, p3 = project_id(), project_id(), project_id()
    for project, pod in ((p1, shared_pod), (p2, shared_pod), (p3, other_pod)):
        events = chat_in_pod(client, project, pod, f'create {project}.txt with content "{project}"')
        assert events[-1].event == "end_turn", [e.event for e in events]

    [shared] = pods(engine, stack, shared_pod)
    [other] = pods(engine, stack, other_pod)
    assert shared.id != other.id
    assert agent_containers(engine, stack, p1) == [] and agent_containers(engine, stack, p2) == []
    for project in (p1, p2):
        read = shared.exec_run(["cat", f"{WORKSPACE}/{project}/{project}.txt"])
        assert read.output.decode() == project, "each project writes in its own folder"
    assert shared.exec_run(["test", "-e", f"{WORKSPACE}/{p2}/{p1}.txt"]).exit_code != 0
    assert other.exec_run(["test", "-e", f"{WORKSPACE}/{p3}/{p3}.txt"]).exit_code == 0

    cwds = shared.exec_run(["sh", "-c", CWDS], user="agent").output.decode().split()
    assert f"{WORKSPACE}/{p1}" in cwds and f"{WORKSPACE}/{p2}" in cwds, "an agent process per project"
    for project in (p1, p2):
        status = client.get(f"/agent/status/{project}").json()["data"]
        assert status["is_alive"] is True, status


def test_a_pod_needs_its_place_and_a_project_stays_in_its_pod(client):
    project, pod = project_id(), pod_id()

    unplaced = client.post("/chat", json={"prompt": "hi", "project_id": project, "pod_id": pod})
    assert unplaced.status_code == 400
    assert "pod_id needs tenant_id, space_id, isolation_type" in unplaced.json()["message"]

    assert chat_in_pod(client, project, pod)[-1].event == "end_turn"
    moved = client.post("/chat", json={"prompt": "hi", "project_id": project, "pod_id": pod_id(), **PLACE})
    assert moved.status_code == 409 and f"lives in pod '{pod}'" in moved.json()["message"]

    own = project_id()
    chat(client, own, "hello")
    joined = client.post("/chat", json={"prompt": "hi", "project_id": own, "pod_id": pod, **PLACE})
    assert joined.status_code == 409 and "of its own" in joined.json()["message"]


def test_stopping_a_project_in_a_pod_ends_its_agent_and_the_pod_serves_the_others(client, engine, stack):
    pod = pod_id()
    p1, p2 = project_id(), project_id()
    for project in (p1, p2):
        assert chat_in_pod(client, project, pod)[-1].event == "end_turn"

    wrong = client.post("/agent/stop", json={"project_id": p1, "pod_id": pod_id()})
    stopped = client.post("/agent/stop", json={"project_id": p1, "pod_id": pod})

    assert wrong.status_code == 404
    assert stopped.status_code == 200 and "its pod goes on serving" in stopped.json()["data"]["message"]
    [container] = pods(engine, stack, pod)
    assert container.status == "running"
    cwds = container.exec_run(["sh", "-c", CWDS], user="agent").output.decode().split()
    assert f"{WORKSPACE}/{p1}" not in cwds and f"{WORKSPACE}/{p2}" in cwds
    assert chat_in_pod(client, p2, pod)[-1].event == "end_turn"
    assert chat_in_pod(client, p1, pod)[-1].event == "end_turn", "the next chat starts its agent again"


def test_a_project_token_opens_only_its_own_previews_in_a_shared_pod(appliance, client):
    pod = pod_id()
    p1, p2 = project_id(), project_id()
    for project in (p1, p2):
        assert chat_in_pod(client, project, pod)[-1].event == "end_turn"
    token = client.post("/proxy/token", json={"project_id": p1, "port": 5173}).json()["data"]["token"]

    own = httpx.get(f"{appliance.url}/proxy/{p1}/5173/", params={"rcoder_token": token})
    sibling = httpx.get(f"{appliance.url}/proxy/{p2}/5173/", params={"rcoder_token": token})

    assert own.status_code not in (401, 403), "its own project's route is open to it (nothing listens: 502)"
    assert sibling.status_code == 403 and "does not open" in sibling.json()["message"]
