"""Templates on a real swarm (make test-swarm): built and sealed on the manager with the runner bundle
copied in (the nodes have no bundle volume), pushed to the registry the agent image comes from, and
run on a worker node by digest, as the template's user, with a home it can write."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.integration.test_templates import build, ready, templates_of, upload
from tests.stack import Appliance, run_appliance
from tests.swarm.conftest import appliance_settings, node_of, registry, worker_docker
from tests.swarm.test_swarm_appliance import agent_service

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def appliance(engine: docker.DockerClient) -> Iterator[Appliance]:
    templates = {"bare": {"image": "debian:bookworm-slim", "pool_size": 1}}
    with run_appliance(
        engine, swarm=True, config={"templates": templates}, **appliance_settings()
    ) as appliance:
        yield appliance


def on_its_template(engine: docker.DockerClient, appliance: Appliance, project: str, template: str):
    """The project's service, once a turn on the template ended: on a worker, its sealed image from
    the registry by digest, as the template's user."""
    with appliance.client() as client:
        events = read_all(client, chat(client, project, "create hello.txt", template=template)["session_id"])
        assert events[-1].event == "end_turn", [e.event for e in events]
        assert client.get(f"/agent/status/{project}").json()["data"]["template"] == template
    service = agent_service(engine, appliance, project)
    container = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    repository = f"{registry().address}/rcoder/template-{appliance.stack}-{template}"
    assert container["Image"].startswith(f"{repository}@sha256:"), container["Image"]
    assert container["User"] == "1000:1000"
    assert node_of(engine, service.id).startswith("rcoder-swarm-worker-")
    return service


def test_a_configured_template_is_pushed_and_a_project_on_it_runs_on_a_worker(engine, appliance):
    with appliance.client() as client:
        listed = eventually(lambda: ready(client, "bare"), 300, "template bare sealed and pushed")
    assert listed["bare"]["source"] == "debian:bookworm-slim"

    service = on_its_template(engine, appliance, project_id(), "bare")

    said = worker_docker(
        engine,
        service.id,
        "exec",
        "sh",
        "-c",
        "id -u; cat /etc/debian_version; ls /app/project_workspace; touch $HOME/.written && echo home-ok; "
        "command -v python3 node || echo neither; touch /opt/rcoder-runner/x 2>/dev/null || echo sealed",
    ).splitlines()
    assert said[0] == "1000" and said[1].startswith("12."), said
    assert "hello.txt" in said and "home-ok" in said, said
    assert said[-2:] == ["neither", "sealed"], "the image's own tools, and a runner it cannot change"


def test_a_template_built_through_the_api_on_the_manager_runs_on_a_worker(engine, appliance):
    dockerfile = "FROM debian:bookworm-slim\nRUN echo built-on-the-manager > /etc/rcoder-template\n"
    with appliance.client() as client:
        events = build(client, "marked", upload({"Dockerfile": dockerfile}))
        assert events[-1].event == "ready", events[-3:]
        assert templates_of(client)["marked"]["origin"] == "api"

    service = on_its_template(engine, appliance, project_id(), "marked")

    said = worker_docker(engine, service.id, "exec", "cat", "/etc/rcoder-template")
    assert said == "built-on-the-manager"
