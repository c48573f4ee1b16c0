"""The Pulumi program's own resources, realised on the real engine, run the appliance.

The graph comes from running infra/ under Pulumi's mocks (tests/pulumi_graph.py), so this test
follows the program: a resource added there is realised here, or the realiser refuses it. Then
the appliance is driven through its proxy (health, a demo chat streamed to its end, a preview of
a port inside the project's container), and everything is torn down as a CI stack would be.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid

import httpx
import pytest

from appliance.containers.firewall import Firewall
from infra import smoke, teardown
from tests.integration.conftest import wait_listening
from tests.integration.reach import host_targets, opened, reach
from tests.integration.realise import Realiser
from tests.pulumi_graph import run_program
from tests.stack import TAG, agent_containers, free_port

pytestmark = pytest.mark.engine


def test_the_programs_resources_run_the_appliance_and_go_without_a_trace(engine):
    stack = f"pulumi{uuid.uuid4().hex[:8]}"
    api_key = secrets.token_hex(16)
    config = {
        "stack": stack,
        "port": str(free_port()),
        "proxyPort": str(free_port()),
        "apiKey": api_key,
        "imageTag": TAG,
    }
    graph = run_program(config, ("apiKey",), stack=stack)
    outputs = graph.exports
    realiser = Realiser(engine, graph)
    try:
        realiser.up()
        url = outputs["url"]

        project = smoke.check(url, api_key)
        [container] = agent_containers(engine, stack, project)
        container.exec_run(
            ["python3", "-m", "http.server", "5173", "--directory", "/app/project_workspace"], detach=True
        )
        wait_listening(container, 5173)
        preview = httpx.get(f"{url}/proxy/{project}/5173/smoke.txt", headers={"x-api-key": api_key})
        docs = httpx.get(outputs["docs_url"])
        refused = httpx.get(f"{url}/agents")

        attempts = reach(container, host_targets(int(config["port"]), int(config["proxyPort"])))
        assert preview.status_code == 200 and preview.text == "Hello from the RCoder demo agent!\n"
        assert opened(attempts) == [], f"the agent reaches nothing on the host: {attempts}"
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert refused.status_code == 401, "the API key from the stack's secret is required"
        gateway = engine.containers.get(outputs["gateway_container"])
        assert gateway.exec_run(["printenv"]).output.decode().count(api_key) == 0, "the key is not in the env"
    finally:
        teardown.remove_runtime_containers(engine, stack)
        realiser.down()
        leftovers = teardown.remove_leftovers(engine, stack)

    selector = {"label": [f"rcoder.stack={stack}"]}
    assert engine.containers.list(all=True, filters=selector) == []
    assert engine.networks.list(filters=selector) == []
    assert engine.volumes.list(filters=selector) == []
    assert asyncio.run(Firewall(stack).bridges()) == [], "the host firewall rules went with the stack"
    assert leftovers and all(item.startswith(f"volume rcoder-{stack}-ws-") for item in leftovers), (
        f"only workspace volumes (kept on destroy) were left: {leftovers}"
    )
