"""Host folders (engine_config.workspaces: host) on the real engine: an appliance of its own whose
workspaces are folders beneath a folder of this host, the engine's. What an agent writes is there, the
agents' user's; the files API serves it whether the agent's container runs or is gone; a pod's projects
write beneath the pod's folder; the gateway learns at start which projects have a folder; and /health
says that nothing bounds them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.integration.test_pods import PLACE, pod_id
from tests.stack import Appliance, agent_containers, containers, image, remove, run_appliance, unclaimed

pytestmark = pytest.mark.engine

HELLO = b"Hello from the RCoder demo agent!\n"
AGENT_UID = 1000


@pytest.fixture(scope="module")
def folder(engine) -> Iterator[Path]:
    """A folder of this host for the workspaces. What the agents made there is theirs (uid 1000) or
    root's, so a container as root empties it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="rcoder-host-workspaces-"))
    yield root
    engine.containers.run(
        image("agent"),
        ["find", "/folders", "-mindepth", "1", "-delete"],
        user="0",
        network_mode="none",
        volumes={str(root): {"bind": "/folders", "mode": "rw"}},
        remove=True,
    )
    root.rmdir()


@pytest.fixture(scope="module")
def host_appliance(engine, folder) -> Iterator[Appliance]:
    with run_appliance(engine, RCODER_WORKSPACES="host", RCODER_PROJECTS_DIR=str(folder)) as running:
        yield running


@pytest.fixture
def host_client(host_appliance) -> Iterator[httpx.Client]:
    with host_appliance.client() as client:
        yield client


def ended(client: httpx.Client, data: dict) -> None:
    events = read_all(client, data["session_id"])
    assert events[-1].event == "end_turn", [e.event for e in events]


def files_containers(engine, stack: str) -> list:
    return containers(engine, label=[f"rcoder.stack={stack}", "rcoder.kind=files"])


def test_the_agents_file_is_in_the_projects_folder_on_the_host_and_served_without_its_agent(
    host_client, host_appliance, engine, folder
):
    stack, project = host_appliance.stack, project_id()
    ended(host_client, chat(host_client, project, "create hello.txt"))

    written = folder / project / "hello.txt"
    assert written.read_bytes() == HELLO
    assert written.stat().st_uid == AGENT_UID and (folder / project).stat().st_uid == AGENT_UID
    raw = f"/agent/files/{project}/raw"
    assert host_client.get(raw, params={"path": "hello.txt"}).content == HELLO

    remove(agent_containers(engine, stack, project) + files_containers(engine, stack))
    served = host_client.get(raw, params={"path": "hello.txt"})
    assert served.status_code == 200 and served.content == HELLO, "a new files container binds the folder"
    assert agent_containers(engine, stack, project) == [], "the agent was not started for it"


def test_a_project_without_a_folder_has_no_files_and_none_is_made(host_client, folder):
    project = project_id()

    response = host_client.get(f"/agent/files/{project}")

    assert response.status_code == 404 and "has no workspace yet" in response.json()["message"]
    assert not (folder / project).exists()


def test_a_pods_projects_write_beneath_the_pods_folder(host_client, folder):
    project, pod = project_id(), pod_id()
    ended(host_client, chat(host_client, project, "create hello.txt", pod_id=pod, **PLACE))

    written = folder / "pods" / pod / PLACE["tenant_id"] / PLACE["space_id"] / project / "hello.txt"
    assert written.read_bytes() == HELLO and written.stat().st_uid == AGENT_UID
    assert not (folder / project).exists()


def test_health_says_host_folders_have_no_quota_and_no_pool_is_kept(host_client, host_appliance, engine):
    health = host_client.get("/health").json()

    assert health["workspace_quota_problem"] == "host folders have no quota"
    assert health["workspace_bytes"] is None
    assert unclaimed(engine, host_appliance.stack) == [], "no warm pool with host folders"


def test_after_a_restart_a_project_with_a_folder_still_has_its_workspace(host_client, host_appliance, engine):
    project = project_id()
    ended(host_client, chat(host_client, project, "create hello.txt"))
    remove(agent_containers(engine, host_appliance.stack, project))

    host_appliance.restart_gateway(engine)

    joined = host_client.post(
        "/chat", json={"prompt": "hi", "project_id": project, "pod_id": pod_id(), **PLACE}
    )
    assert joined.status_code == 409 and "of its own" in joined.json()["message"], joined.text
