"""appliance/containers/lifecycle.py over a fake engine, with a real runner to be ready."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from appliance.containers.limits import Limits
from appliance.errors import ContainerFailed, IsolationUnavailable, TooManyRequests
from appliance.gateway import Gateway
from appliance.projects import ProjectRef
from tests.fakes.engine import FakeEngine
from tests.unit.appliance.conftest import core_config


async def test_concurrent_first_uses_start_one_container(gateway):
    workload = gateway.workloads.agent("p1")

    results = await asyncio.gather(*(gateway.lifecycle.ensure(workload) for _ in range(5)))

    assert len(gateway.engine.started) == 1
    assert len({running.container.id for running, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 4 + [True]


async def test_a_requests_limits_apply_to_the_container_it_starts_only(gateway):
    config = gateway.config.engine_config
    await gateway.lifecycle.ensure(gateway.workloads.agent("p1"), Limits(memory_bytes=1024**3, cpus=1.5))
    await gateway.lifecycle.ensure(gateway.workloads.agent("p2"))

    limited, default = gateway.engine.started
    assert (limited.memory_bytes, limited.cpus) == (1024**3, 1.5)
    assert (default.memory_bytes, default.cpus) == (config.memory_limit_bytes, config.cpu_limit)
    assert default.pids_limit == config.pids_limit


async def test_nothing_starts_while_the_host_firewall_is_missing(gateway):
    gateway.lifecycle.refuse_starts("iptables said no")

    with pytest.raises(IsolationUnavailable, match="iptables said no") as refused:
        await gateway.lifecycle.ensure(gateway.workloads.agent("p1"))

    assert refused.value.status_code == 503 and gateway.engine.started == []


async def test_a_container_whose_runner_never_answers_is_removed_with_its_log(tmp_path, runner):
    unready = FakeEngine(ip="127.0.0.78")  # no runner there
    gateway = Gateway.build(core_config(tmp_path, **{"engine_config.start_timeout_seconds": "1"}), unready)
    await gateway.start()
    try:
        with pytest.raises(ContainerFailed, match="did not become ready") as failed:
            await gateway.lifecycle.ensure(gateway.workloads.agent("p1"))
    finally:
        await gateway.close()
    assert "(fake log)" in failed.value.message
    assert unready.containers == {}, "nothing is left behind"


async def test_stopped_leftovers_go_before_a_start_and_stop_removes_what_runs(gateway):
    workload = gateway.workloads.agent("p1")
    leftover = await gateway.engine.start(workload.spec)  # of a previous run, stopped
    gateway.engine.containers[leftover.id] = dataclasses.replace(leftover, status="exited")

    running, _ = await gateway.lifecycle.ensure(workload)

    assert list(gateway.engine.containers) == [running.container.id]
    assert await gateway.lifecycle.stop(workload) is True
    assert gateway.engine.containers == {}
    assert await gateway.lifecycle.stop(workload) is False, "nothing left to stop"


async def test_a_project_runs_in_its_own_container_or_in_its_users_desktop(gateway):
    lifecycle, workloads = gateway.lifecycle, gateway.workloads
    agent, desktop = lifecycle.serving(ProjectRef("p1")), lifecycle.serving(ProjectRef("p1", "ann"))

    assert (agent.kind, agent.key, desktop.kind, desktop.key) == ("agent", "p1", "desktop", "ann")
    assert agent.spec.mount_path == gateway.config.workspace_path and desktop.spec.mount_path == "/home/agent"
    assert workloads.of(agent.name, agent.spec.labels) == agent
    assert workloads.of(desktop.name, desktop.spec.labels) == desktop
    assert workloads.of("rcoder-x-gateway", {"rcoder.kind": "gateway"}) is None


async def test_no_container_starts_beyond_the_stacks_limit(tmp_path, runner):
    engine = FakeEngine()
    gateway = Gateway.build(core_config(tmp_path, **{"limits.max_containers": "2"}), engine)
    await gateway.start()
    try:
        for project in ("p1", "p2"):
            await gateway.lifecycle.ensure(gateway.workloads.agent(project))
        with pytest.raises(TooManyRequests, match=r"as many containers as it may \(2\)") as refused:
            await gateway.lifecycle.ensure(gateway.workloads.agent("p3"))
        assert refused.value.status_code == 429 and refused.value.retry_after > 0
        assert len(engine.started) == 2
        # A running project is still served, and a stop makes room.
        await gateway.lifecycle.ensure(gateway.workloads.agent("p1"))
        await gateway.turns.stop_project(ProjectRef("p1"))
        await gateway.lifecycle.ensure(gateway.workloads.agent("p3"))
    finally:
        await gateway.close()


async def test_the_cleanup_does_not_remove_a_container_a_request_needed_after_it_looked(gateway):
    """The cleanup found the desktop idle, then waited for its lock while a request started it."""
    workload = gateway.workloads.desktop("u1")
    found_idle_at = time.time()
    ensuring = asyncio.create_task(gateway.lifecycle.ensure(workload))
    await asyncio.sleep(0)  # the request holds the workload now
    removing = asyncio.create_task(gateway.lifecycle.stop(workload, idle_at=found_idle_at))
    pausing = asyncio.create_task(gateway.lifecycle.pause(workload, found_idle_at))

    running, created = await ensuring
    assert created
    assert await removing is False and await pausing is False
    assert (await gateway.engine.inspect(running.container.id)).running
    assert await gateway.lifecycle.stop(workload, idle_at=time.time()) is True, "idle since: it goes"


async def test_with_host_folders_the_projects_with_a_folder_have_a_workspace(tmp_path, runner):
    engine = FakeEngine()
    engine.folders = {"/srv/rcoder/p1", "/srv/rcoder/pods/pod1", "/srv/rcoder/users/ann"}
    settings = {"engine_config.workspaces": "host", "projects_dir": engine.folder_root, "warm_pool.size": "2"}
    gateway = Gateway.build(core_config(tmp_path, **settings), engine)
    await gateway.start()
    try:
        workloads = gateway.workloads
        assert workloads.has_workspace("p1") and not workloads.has_workspace("p2")
        assert not workloads.has_workspace("pods") and not workloads.has_workspace("users")
        assert not list(gateway.pools), "no warm pool: a pooled volume cannot become a project's folder"
        assert (workloads.volume_bytes, workloads.quota_problem) == (None, "host folders have no quota")

        await gateway.lifecycle.ensure(workloads.agent("p2"))
        assert engine.started[-1].bind_source == "/srv/rcoder/p2" and workloads.has_workspace("p2")
    finally:
        await gateway.close()
