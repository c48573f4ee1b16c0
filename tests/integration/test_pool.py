"""The warm pool and pausing on the real engine: a pooled container is claimed by exactly one of five
concurrent new projects, stays that project's across a gateway restart, and the pool refills; a paused
container is resumed by a chat, a status call and a preview through the proxy; twenty new projects at
once all finish their turn."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id, wait_listening
from tests.integration.sse import read_all
from tests.stack import agent_containers, run_appliance, unclaimed

pytestmark = pytest.mark.engine


def status(engine, stack: str, project: str) -> str:
    found = agent_containers(engine, stack, project)
    return found[0].status if found else "removed"


def test_one_of_five_new_projects_claims_the_pooled_container_and_keeps_it_across_a_restart(engine):
    with run_appliance(engine, RCODER_WARM_POOL_SIZE="1") as appliance, appliance.client() as client:
        [pooled] = eventually(lambda: unclaimed(engine, appliance.stack), 60, "the pool filling")
        gateway = appliance.gateway(engine)
        eventually(lambda: b"ready (1 of 1)" in gateway.logs(), 60, "the pooled container's runner ready")
        projects = [project_id() for _ in range(5)]

        with ThreadPoolExecutor(5) as pool:
            sessions = list(pool.map(lambda p: chat(client, p, "create born.txt")["session_id"], projects))
        for session in sessions:
            assert read_all(client, session)[-1].event == "end_turn"

        containers = {p: agent_containers(engine, appliance.stack, p) for p in projects}
        assert all(len(found) == 1 for found in containers.values())
        assert len({found[0].id for found in containers.values()}) == 5, "five projects, five containers"
        [claimer] = [p for p, found in containers.items() if found[0].id == pooled.id]
        [refill] = eventually(
            lambda: [c for c in unclaimed(engine, appliance.stack) if c.id != pooled.id],
            60,
            "the pool starting a new container",
        )

        appliance.restart_gateway(engine)

        assert client.get(f"/agent/status/{claimer}").json()["data"]["is_alive"] is True
        [after] = agent_containers(engine, appliance.stack, claimer)
        assert after.id == pooled.id, "the claimed container is still the project's after the restart"
        again = chat(client, claimer, "hello")["session_id"]
        assert read_all(client, again)[-1].event == "end_turn"
        assert after.exec_run(["cat", "/app/project_workspace/born.txt"]).exit_code == 0
        assert refill.id not in {c.id for c in unclaimed(engine, appliance.stack)}, (
            "the unclaimed container of the previous run was not handed out again: it was replaced"
        )
        eventually(
            lambda: len(unclaimed(engine, appliance.stack)) == 1, 60, "the pool refilled after restart"
        )

        # The project's files outlive its container: a new container mounts the pool-born workspace.
        client.post("/agent/stop", json={"project_id": claimer})
        chat(client, claimer, "hello")
        [fresh] = agent_containers(engine, appliance.stack, claimer)
        assert fresh.id != pooled.id
        assert fresh.exec_run(["cat", "/app/project_workspace/born.txt"]).exit_code == 0


def test_a_paused_container_is_resumed_by_a_status_call_a_preview_and_a_chat(engine):
    settings = {
        "RCODER_IDLE_TIMEOUT_SECONDS": "2",
        "RCODER_CLEANUP_INTERVAL_SECONDS": "1",
        "RCODER_CONTAINER_PROTECTION_SECONDS": "0",
        "RCODER_WARM_POOL_SIZE": "0",
    }
    with run_appliance(engine, **settings) as appliance, appliance.client() as client:
        project = project_id()
        read_all(client, chat(client, project, "hello")["session_id"])
        [container] = agent_containers(engine, appliance.stack, project)
        container.exec_run(["python3", "-m", "http.server", "5173", "-d", "/tmp"], detach=True)
        wait_listening(container, 5173)

        def paused() -> bool:
            return status(engine, appliance.stack, project) == "paused"

        eventually(paused, 30, "cleanup pausing the idle container")
        assert client.get(f"/agent/status/{project}").json()["data"]["is_alive"] is True
        assert status(engine, appliance.stack, project) == "running", "a status call resumed it"

        eventually(paused, 30, "cleanup pausing it again")
        preview = httpx.get(
            f"{appliance.url}/proxy/{project}/5173/", headers={"x-api-key": appliance.api_key}
        )
        assert preview.status_code == 200, "a preview through the proxy resumed it"

        eventually(paused, 30, "cleanup pausing it once more")
        assert read_all(client, chat(client, project, "hello")["session_id"])[-1].event == "end_turn"
        [same] = agent_containers(engine, appliance.stack, project)
        assert same.id == container.id, "the same container, resumed, not a new one"


def test_twenty_new_projects_at_once_all_finish(client):
    projects = [f"load{uuid.uuid4().hex[:8]}" for _ in range(20)]
    with ThreadPoolExecutor(20) as pool:
        sessions = list(pool.map(lambda p: chat(client, p, "hello")["session_id"], projects))
        endings = list(pool.map(lambda s: read_all(client, s)[-1].event, sessions))
    assert endings == ["end_turn"] * 20
