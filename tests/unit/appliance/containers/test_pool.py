"""appliance/containers/pool.py with the lifecycle over a fake engine: a new project claims a ready
container exactly once, the pool refills, and a claim survives a gateway restart."""

from __future__ import annotations

import asyncio

from appliance.containers.limits import Limits
from appliance.containers.pool import WarmPool, fair_sizes
from appliance.containers.workloads import Workloads
from appliance.gateway import Gateway
from appliance.runner_client import RunnerClient
from appliance.store import Store
from tests.fakes.engine import FakeEngine
from tests.unit.appliance.conftest import core_config


async def pooled_gateway(tmp_path, engine: FakeEngine, size: int = 2) -> Gateway:
    gateway = Gateway.build(core_config(tmp_path, **{"warm_pool.size": str(size)}), engine)
    await gateway.start()
    return gateway


async def filled(gateway: Gateway) -> None:
    """Until the pool has all its containers ready."""
    pool = gateway.pools.of(None)
    assert pool is not None
    for _ in range(1000):
        if pool.ready == pool.size:
            return
        await asyncio.sleep(0.01)  # the pool fills in its own task
    raise AssertionError(f"the pool has {pool.ready} of {pool.size} ready after 10 s")


async def test_concurrent_new_projects_claim_each_pooled_container_once_and_the_pool_refills(
    tmp_path, runner
):
    engine = FakeEngine()
    gateway = await pooled_gateway(tmp_path, engine)
    try:
        await filled(gateway)
        pooled = {c.name for c in engine.containers.values()}
        workloads = [gateway.workloads.agent(f"p{i}") for i in range(5)]

        results = await asyncio.gather(*(gateway.lifecycle.ensure(w) for w in workloads))
        await filled(gateway)
    finally:
        await gateway.close()

    ids = [running.container.id for running, _ in results]
    assert len(set(ids)) == 5, "no container was handed to two projects"
    assert [running.container.name for running, _ in results] == [w.name for w in workloads]
    claimed = [spec for spec in engine.started if spec.name in pooled]
    assert len(claimed) == 2 and len([s for s in engine.started if "-agent-" in s.name]) == 3, (
        "two projects got the pool's containers, three were started for them"
    )
    assert len([c for c in engine.containers.values() if "-pool-" in c.name]) == 2, "the pool refilled"


async def test_a_claim_outlives_a_restart_and_the_unclaimed_ones_are_replaced(tmp_path, runner):
    engine = FakeEngine()
    gateway = await pooled_gateway(tmp_path, engine)
    await filled(gateway)
    running, _ = await gateway.lifecycle.ensure(gateway.workloads.agent("p1"))
    volume = gateway.workloads.agent("p1").spec.volume
    await filled(gateway)
    unclaimed_before = {c.name for c in engine.containers.values() if "-pool-" in c.name}
    await gateway.close()

    again = await pooled_gateway(tmp_path, engine)
    try:
        found = await again.lifecycle.find(again.workloads.agent("p1"))
        await filled(again)
        unclaimed_after = {c.name for c in engine.containers.values() if "-pool-" in c.name}
    finally:
        await again.close()

    assert "-pool-" in volume, "the project kept the pool container's fresh workspace"
    assert found is not None and found.container.id == running.container.id, "still the project's"
    assert again.workloads.agent("p1").spec.volume == volume, "its workspace is still bound"
    assert not unclaimed_before & unclaimed_after, "the unclaimed containers were replaced"
    assert volume in engine.volume_labels and len(unclaimed_after) == 2


async def test_projects_with_files_or_limits_of_their_own_start_their_own_container(tmp_path, runner):
    engine = FakeEngine()
    gateway = await pooled_gateway(tmp_path, engine)
    try:
        await filled(gateway)
        workloads = gateway.workloads
        workloads.know_workspace("old", workloads.agent("old").spec.volume)  # it has files already
        old, _ = await gateway.lifecycle.ensure(workloads.agent("old"))
        limited, _ = await gateway.lifecycle.ensure(workloads.agent("limited"), Limits(cpus=1.0))
    finally:
        await gateway.close()
    assert gateway.pools.ready == 2, "neither took a pooled container"
    started = {spec.name: spec for spec in engine.started}
    assert started[old.container.name].volume.endswith("-ws-old")
    assert started[limited.container.name].cpus == 1.0


def test_only_a_new_projects_agent_with_no_limits_of_its_own_may_claim_a_pooled_container(tmp_path):
    workloads = Workloads(core_config(tmp_path))
    pool = WarmPool(
        1, "unit", FakeEngine(), RunnerClient(), Store(tmp_path / "rcoder.duckdb"), workloads, 5.0
    )
    workloads.know_workspace("old", workloads.agent("old").spec.volume)

    assert not pool.cold_start(workloads.agent("new"), Limits()), "a new project may claim one"
    assert pool.cold_start(workloads.agent("new"), Limits(cpus=1.0)), "limits of its own: a new container"
    assert pool.cold_start(workloads.agent("old"), Limits()), "its files are in its own volume"
    assert pool.cold_start(workloads.desktop("ann"), Limits()), "a desktop is not a pooled agent"
    assert pool.cold_start(workloads.pod("pod1"), Limits()), "nor is a pod"


def test_the_pools_share_the_container_limit_in_proportion_to_what_they_ask():
    assert fair_sizes({None: 2, "go": 3}, 100) == {None: 2, "go": 3}, "within the limit: as asked"
    assert fair_sizes({None: 10, "go": 30, "rust": 10}, 10) == {None: 2, "go": 6, "rust": 2}
    assert fair_sizes({None: 3, "go": 3, "rust": 3}, 4) == {None: 2, "go": 1, "rust": 1}
    assert sum(fair_sizes({None: 7, "a": 5, "b": 1}, 6).values()) == 6
