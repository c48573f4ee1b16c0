"""appliance/containers/workloads.py: which volume, or host folder, each kind of container mounts."""

from __future__ import annotations

import pytest

from appliance.config_loader import load_config
from appliance.containers.workloads import Workloads
from appliance.errors import BadRequest
from appliance.projects import ProjectRef

HOST_FOLDERS = {"engine_config.workspaces": "host", "projects_dir": "/srv/rcoder/"}


def test_with_volumes_nothing_is_bound():
    workloads = Workloads(load_config({}, environ={}))

    for workload in (workloads.agent("p1"), workloads.pod("pod1"), workloads.desktop("ann")):
        assert workload.spec.bind_source is None
        assert workload.spec.create_volume


def test_with_host_folders_each_workspace_is_its_own_folder_mounted_where_a_volume_is():
    config = load_config(HOST_FOLDERS, environ={})
    workloads = Workloads(config)

    agent, pod, desktop = workloads.agent("p1"), workloads.pod("pod1"), workloads.desktop("ann")

    assert agent.spec.bind_source == "/srv/rcoder/p1"
    assert pod.spec.bind_source == "/srv/rcoder/pods/pod1"
    assert desktop.spec.bind_source == "/srv/rcoder/users/ann"
    assert agent.spec.mount_path == pod.spec.mount_path == "/app/project_workspace"
    assert desktop.spec.mount_path == "/home/agent"
    assert all(w.spec.volume_driver == "local" and w.spec.volume_bytes is None for w in (agent, pod, desktop))


def test_a_files_container_binds_the_folder_of_what_it_serves_and_never_makes_it():
    workloads = Workloads(load_config(HOST_FOLDERS, environ={}))

    own = workloads.files(workloads.agent("p1"), "", ProjectRef("p1"))
    in_pod = workloads.files(workloads.pod("pod1"), "t1/s1/p2", ProjectRef("p2"))
    in_home = workloads.files(workloads.desktop("ann"), "p3", ProjectRef("p3", "ann"))

    assert [f.spec.bind_source for f in (own, in_pod, in_home)] == [
        "/srv/rcoder/p1",
        "/srv/rcoder/pods/pod1",
        "/srv/rcoder/users/ann",
    ]
    assert not any(f.spec.create_volume for f in (own, in_pod, in_home))
    assert in_pod.spec.command[-2:] == ("--folder", "t1/s1/p2")
    assert in_home.spec.mount_path == "/app/project_workspace", "where an agent's workspace is"


@pytest.mark.parametrize("project", ["pods", "users"])
def test_the_pods_and_users_folders_are_no_projects_with_host_folders(project):
    with pytest.raises(BadRequest, match=f"project id '{project}' is reserved"):
        Workloads(load_config(HOST_FOLDERS, environ={})).agent(project)
    assert Workloads(load_config({}, environ={})).agent(project).spec.bind_source is None
