"""appliance/engines/docker/: Docker's errors and JSON become the appliance's, once, here."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.engines.docker import DockerEngine
from appliance.engines.docker.events import gone
from appliance.engines.docker.folders import Folders
from appliance.engines.docker_sdk import DockerSdk, parse_time
from appliance.engines.engine import ContainerSpec, HostFolders
from appliance.errors import EngineUnavailable, NotFound
from tests.unit.appliance.engines.fake_docker_api import fake_docker_api


async def test_an_engine_that_does_not_answer_is_unavailable_503():
    engine = DockerEngine("tcp://127.0.0.1:9", api_timeout=2)
    try:
        with pytest.raises(EngineUnavailable) as error:
            await engine.ping()
    finally:
        await engine.close()
    assert error.value.status_code == 503 and "not reachable" in error.value.message


def test_docker_times_with_nanoseconds_are_read():
    parsed = parse_time("2026-11-24T04:00:06.480952123Z")
    assert parsed.isoformat() == "2026-11-24T04:00:06+00:00"
    assert parse_time("") is None


def test_an_event_becomes_what_happened_to_which_container():
    event = {
        "id": "c0ffee",
        "Action": "die",
        "Actor": {"Attributes": {"rcoder.project": "p1", "exitCode": "137", "name": "x"}},
    }
    what = gone(event)
    assert (what.container_id, what.action, what.exit_code) == ("c0ffee", "die", 137)
    assert what.labels == {"rcoder.project": "p1"} and what.name == "x"
    assert what.describe() == "die with exit code 137"
    assert gone({"id": "c", "Action": "destroy", "Actor": {"Attributes": {}}}).describe() == "destroy"


def _container(container_id: str) -> dict:
    """A container as the engine inspects it."""
    return {
        "Id": container_id,
        "Name": f"/{container_id}",
        "Created": "2026-12-07T06:00:00.123456789Z",
        "State": {"Status": "running"},
        "Config": {"Labels": {}, "Tty": True},
        "NetworkSettings": {"Networks": {"n": {"IPAddress": "10.0.0.2"}}},
    }


def _host_folder_routes(created: list[dict], exists: bool) -> dict:
    """A workload container that Docker refuses to create while its bind source is missing, and the
    one-shot container that makes it."""

    def create(params: dict) -> tuple[int, object]:
        body = params["body"]
        created.append(body)
        if body["Image"] == "agent:folders":
            return 201, {"Id": "once"}
        mounts = body["HostConfig"]["Mounts"]
        if not exists and not any(b["Image"] == "agent:folders" for b in created):
            source = mounts[0]["Source"]
            return 400, {
                "message": f'invalid mount config for type "bind": bind source path does not exist: {source}'
            }
        return 201, {"Id": "c1"}

    ok = lambda _: (200, {})  # noqa: E731
    return {
        ("POST", "/containers/create"): create,
        ("GET", "/containers/once/json"): lambda _: (200, _container("once")),
        ("GET", "/containers/c1/json"): lambda _: (200, _container("c1")),
        ("POST", "/containers/once/start"): ok,
        ("POST", "/containers/once/wait"): lambda _: (200, {"StatusCode": 0}),
        ("GET", "/containers/once/logs"): lambda _: (200, ""),
        ("DELETE", "/containers/once"): ok,
        ("POST", "/containers/c1/start"): ok,
    }


FOLDERS = HostFolders("/srv/rcoder", "agent:folders", {"rcoder.stack": "s"})
SPEC = ContainerSpec(
    name="rcoder-s-agent-p1",
    image="agent:dev",
    labels={},
    network="n",
    volume="rcoder-s-ws-p1",
    volume_labels={},
    mount_path="/app/project_workspace",
    bind_source="/srv/rcoder/pods/pod1",
)


async def test_a_missing_host_folder_is_made_by_a_one_shot_container_then_bound():
    created: list[dict] = []
    with fake_docker_api(_host_folder_routes(created, exists=False)) as (host, requests):
        engine = DockerEngine(host, api_timeout=5, folders=FOLDERS)
        try:
            container = await engine.start(SPEC)
        finally:
            await engine.close()

    assert container.id == "c1"
    refused, once, made = created
    assert refused["HostConfig"]["Mounts"] == made["HostConfig"]["Mounts"]
    assert made["HostConfig"]["Mounts"] == [
        {
            "Target": "/app/project_workspace",
            "Source": "/srv/rcoder/pods/pod1",
            "Type": "bind",
            "ReadOnly": False,
        }
    ]
    assert once["Cmd"] == ["install", "-d", "-o", "1000", "-g", "1000", "/folders/pods/pod1"]
    assert once["User"] == "0" and once["Labels"] == {"rcoder.stack": "s"}
    config = once["HostConfig"]
    assert (config["NetworkMode"], config["CapDrop"], config["CapAdd"]) == (
        "none",
        ["ALL"],
        ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
    )
    assert config["Binds"] == ["/srv/rcoder:/folders:rw"], "only the root is mounted"
    assert "DELETE /containers/once" in requests, "the one-shot container is removed"
    assert not any("/volumes" in request for request in requests), "no volume is looked at"


async def test_a_files_container_never_makes_the_folder_it_would_serve():
    created: list[dict] = []
    with fake_docker_api(_host_folder_routes(created, exists=False)) as (host, _):
        engine = DockerEngine(host, api_timeout=5, folders=FOLDERS)
        try:
            with pytest.raises(NotFound, match="folder /srv/rcoder/pods/pod1 does not exist"):
                await engine.start(dataclasses.replace(SPEC, create_volume=False))
        finally:
            await engine.close()

    assert [body["Image"] for body in created] == ["agent:dev"], "no one-shot container"


async def test_an_existing_host_folder_is_bound_at_once():
    created: list[dict] = []
    with fake_docker_api(_host_folder_routes(created, exists=True)) as (host, _):
        engine = DockerEngine(host, api_timeout=5, folders=FOLDERS)
        try:
            await engine.start(SPEC)
        finally:
            await engine.close()

    assert [body["Image"] for body in created] == ["agent:dev"]


def test_a_folder_outside_the_root_is_never_made():
    folders = Folders(DockerSdk("", 5), FOLDERS)
    for outside in ("/srv/rcoder", "/srv/other", "/srv/rcoder/../x"):
        with pytest.raises(ValueError, match="is not beneath /srv/rcoder"):
            folders.make(outside)
