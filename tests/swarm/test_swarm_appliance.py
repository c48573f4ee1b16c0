"""The appliance on a real swarm (docker-compose.swarm.yml; make test-swarm): the gateway and the proxy
on this manager node, each project's agent a service on a worker node, reached over its own overlay."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.stack import Appliance, run_appliance
from tests.swarm.conftest import AGENTS, node_of

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def appliance(engine: docker.DockerClient) -> Iterator[Appliance]:
    # Overlays unencrypted: IPsec between this host and its worker containers does not pass here.
    settings = {
        "RCODER_SWARM_CONSTRAINTS": AGENTS,
        "RCODER_SWARM_ENCRYPTED": "false",
        "RCODER_WARM_POOL_SIZE": "0",
    }
    with run_appliance(engine, swarm=True, **settings) as appliance:
        yield appliance


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
