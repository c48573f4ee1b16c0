"""appliance/files.py over a fake engine (every container "runs" where a real runner answers): which
files container serves a project, on which volume and folder, and how many run."""

from __future__ import annotations

import pytest

from appliance import labels
from appliance.errors import NotFound, TooManyRequests
from appliance.gateway import Gateway
from appliance.projects import Pod, ProjectRef
from tests.fakes.engine import FakeEngine
from tests.unit.appliance.conftest import core_config

WORKSPACE = "/app/project_workspace"


def with_workspace(gateway: Gateway, volume: str) -> None:
    gateway.engine.volume_labels[volume] = {labels.KIND: labels.KIND_WORKSPACE}


async def test_a_project_without_a_workspace_has_no_files_and_nothing_is_started(gateway):
    with pytest.raises(NotFound, match="has no workspace yet"):
        await gateway.files.address(ProjectRef("nothing-here"))

    assert gateway.engine.started == [] and gateway.engine.containers == {}


async def test_a_projects_files_container_mounts_its_workspace_and_is_started_once(gateway):
    agent = gateway.workloads.agent("p1")
    with_workspace(gateway, agent.spec.volume)

    first = await gateway.files.address(ProjectRef("p1"))
    again = await gateway.files.address(ProjectRef("p1"))

    [spec] = gateway.engine.started
    assert first == again and first.endswith(":50052")
    assert spec.volume == agent.spec.volume and spec.mount_path == WORKSPACE
    assert spec.command == ("rcoder-runner", "--files", "--root", WORKSPACE, "--folder", "")
    assert spec.create_volume is False
    assert spec.labels[labels.KIND] == labels.KIND_FILES and spec.labels[labels.PROJECT] == "p1"
    assert spec.memory_bytes == 256 * 1024**2 and spec.pids_limit == 64
    assert spec.environment["RCODER_FILES_IDLE_SECONDS"] == "120"
    assert await gateway.lifecycle.containers() == [], "not an agent: no agent container counted"


async def test_a_desktop_projects_files_container_serves_its_folder_of_the_home(gateway):
    home = gateway.workloads.desktop("alice").spec.volume
    with_workspace(gateway, home)

    await gateway.files.address(ProjectRef("notes", "alice"))

    [spec] = gateway.engine.started
    assert spec.volume == home
    assert spec.command[-2:] == ("--folder", "notes")
    assert spec.name.startswith(f"rcoder-{gateway.config.engine_config.stack}-files-d-")
    assert spec.labels[labels.USER] == "alice"


def test_a_pod_projects_files_container_serves_its_folder_of_the_pod(gateway):
    pod = Pod.of("pod1", "t1", "s1", "p2")
    served = gateway.workloads.pod("pod1")

    files = gateway.workloads.files(served, pod.folder, ProjectRef("p2"))

    assert files.spec.volume == served.spec.volume
    assert files.spec.command[-2:] == ("--folder", "t1/s1/p2")


async def test_beyond_the_limit_of_files_containers_a_request_waits(tmp_path, runner):
    gateway = Gateway.build(core_config(tmp_path, **{"files.max_servers": "1"}), FakeEngine())
    await gateway.start()
    try:
        for project in ("p1", "p2"):
            with_workspace(gateway, gateway.workloads.agent(project).spec.volume)
        await gateway.files.address(ProjectRef("p1"))

        with pytest.raises(TooManyRequests) as refused:
            await gateway.files.address(ProjectRef("p2"))
    finally:
        await gateway.close()
    assert refused.value.retry_after > 0 and len(gateway.engine.started) == 1


async def test_the_sweep_removes_files_containers_that_left_and_keeps_running_ones(gateway):
    for project in ("p1", "p2"):
        with_workspace(gateway, gateway.workloads.agent(project).spec.volume)
        await gateway.files.address(ProjectRef(project))
    [left, staying] = gateway.engine.containers.values()
    gateway.engine._set_status(left.id, "exited")

    removed = await gateway.files.sweep()

    assert removed == [left.name] and list(gateway.engine.containers) == [staying.id]
    await gateway.files.address(ProjectRef("p1"))
    assert len(gateway.engine.started) == 3, "the one that left starts again when needed"
