"""appliance/engines/swarm/'s translations that need no swarm (the rest: tests/swarm/)."""

from __future__ import annotations

import re

import pytest

from appliance.engines.engine import NameGone
from appliance.engines.swarm import SwarmEngine
from appliance.engines.swarm.services import service_name, tmpfs_mounts
from tests.unit.appliance.engines.fake_docker_api import fake_docker_api

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def test_a_name_that_is_a_dns_label_is_the_services_name():
    assert service_name("rcoder-abc-agent-p1") == "rcoder-abc-agent-p1"


@pytest.mark.parametrize("name", ["rcoder-abc-agent-My_Project.1", "rcoder-abc-agent-" + "x" * 64, "___"])
def test_other_names_become_dns_labels_that_differ_by_name(name):
    derived = service_name(name)

    assert DNS_LABEL.match(derived), derived
    assert derived != service_name(name + "2")


def test_tmpfs_options_become_mounts_with_size_and_mode_and_one_with_an_owner_is_open_to_all():
    tmpfs = {
        "/tmp": "rw,nosuid,size=256m",
        "/run/own": "rw,mode=0700,size=1m",
        "/home/agent": "rw,uid=1000,mode=0700,size=512m",
    }

    mounts = tmpfs_mounts(tmpfs, shm_bytes=64 * 1024**2)

    assert [(m["Target"], m["Type"], m["TmpfsOptions"]) for m in mounts] == [
        ("/tmp", "tmpfs", {"SizeBytes": 256 * 1024**2}),
        ("/run/own", "tmpfs", {"SizeBytes": 1024**2, "Mode": 0o700}),
        ("/home/agent", "tmpfs", {"SizeBytes": 512 * 1024**2, "Mode": 0o1777}),
        ("/dev/shm", "tmpfs", {"SizeBytes": 64 * 1024**2}),
    ]


def _service(service_id: str, name: str) -> dict:
    labels = {"rcoder.stack": "s", "rcoder.name": name, "rcoder.network": f"{service_id}-net"}
    spec = {"Name": name, "Labels": labels, "Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": {}}
    created = "2026-12-07T06:00:00.123456789Z"
    return {"ID": service_id, "Version": {"Index": 7}, "Spec": spec, "CreatedAt": created}


def _task(service_id: str, exit_code: int | None = None) -> dict:
    attachment = {"Network": {"Spec": {"Name": f"{service_id}-net"}}, "Addresses": ["10.0.9.2/24"]}
    status = {"State": "running", "ContainerStatus": {"ExitCode": exit_code}}
    return {
        "ServiceID": service_id,
        "DesiredState": "running",
        "CreatedAt": "2026-12-07T06:00:01Z",
        "Status": status,
        "NetworksAttachments": [attachment],
    }


def _tasks_of(present: set[str]):
    """The tasks route: a service not in `present` was removed after the services were listed."""

    def tasks(params: dict) -> tuple[int, object]:
        [service_id] = params["filters"]["service"]
        if service_id not in present:
            return 404, {"message": f"service {service_id} not found"}
        return 200, [_task(service_id, exit_code=137)]

    return tasks


async def test_a_service_removed_between_the_list_and_its_tasks_is_left_out_of_find():
    services = [_service("gone", "rcoder-s-agent-p1"), _service("kept", "rcoder-s-agent-p2")]
    routes = {("GET", "/services"): lambda _: (200, services), ("GET", "/tasks"): _tasks_of({"kept"})}
    with fake_docker_api(routes) as (host, requests):
        swarm = SwarmEngine(host, api_timeout=5, constraints=[], encrypted=False)
        try:
            found = await swarm.find({"rcoder.stack": "s"})
        finally:
            await swarm.close()

    assert [(c.id, c.name, c.status, c.ip) for c in found] == [
        ("kept", "rcoder-s-agent-p2", "running", "10.0.9.2")
    ]
    assert requests.count("GET /tasks") == 2, "both services were asked about"


async def test_the_exit_code_of_a_service_removed_meanwhile_is_unknown_not_an_error():
    routes = {("GET", "/tasks"): _tasks_of({"kept"})}
    with fake_docker_api(routes) as (host, _):
        swarm = SwarmEngine(host, api_timeout=5, constraints=[], encrypted=False)
        try:
            assert await swarm._services.exit_code("gone") is None
            assert await swarm._services.exit_code("kept") == 137
        finally:
            await swarm.close()


async def test_a_claim_of_a_service_removed_meanwhile_finds_the_name_gone():
    services = [_service("gone", "rcoder-s-pool-1")]
    routes = {
        ("GET", "/services"): lambda params: (
            200,
            services if "rcoder.name=rcoder-s-pool-1" in str(params) else [],
        ),
        ("GET", "/services/gone"): lambda _: (404, {"message": "service gone not found"}),
        ("POST", "/services/gone/update"): lambda _: (404, {"message": "service gone not found"}),
    }
    with fake_docker_api(routes) as (host, _):
        swarm = SwarmEngine(host, api_timeout=5, constraints=[], encrypted=False)
        try:
            with pytest.raises(NameGone):
                await swarm.rename("rcoder-s-pool-1", "rcoder-s-agent-p1")
        finally:
            await swarm.close()
