"""appliance/containers/swarm_engine.py's translations that need no swarm (the rest: tests/swarm/)."""

from __future__ import annotations

import re

import pytest

from appliance.containers.swarm_engine import service_name, tmpfs_mounts

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def test_a_name_that_is_a_dns_label_is_the_services_name():
    assert service_name("rcoder-abc-agent-p1") == "rcoder-abc-agent-p1"


@pytest.mark.parametrize("name", ["rcoder-abc-agent-My_Project.1", "rcoder-abc-agent-" + "x" * 64, "___"])
def test_other_names_become_dns_labels_that_differ_by_name(name):
    derived = service_name(name)

    assert DNS_LABEL.match(derived), derived
    assert derived != service_name(name + "2")


def test_tmpfs_options_become_mounts_with_size_and_mode():
    tmpfs = {
        "/tmp": "rw,nosuid,size=256m",
        "/run/own": "rw,mode=0700,size=1m",
        "/home/agent": "rw,uid=1000,mode=0700,size=512m",
    }

    mounts = tmpfs_mounts(tmpfs, shm_bytes=64 * 1024**2)

    assert [(m["Target"], m["Type"], m["TmpfsOptions"]) for m in mounts] == [
        ("/tmp", "tmpfs", {"SizeBytes": 256 * 1024**2}),
        ("/run/own", "tmpfs", {"SizeBytes": 1024**2, "Mode": 0o700}),
        ("/home/agent", "tmpfs", {"SizeBytes": 512 * 1024**2, "Mode": 0o700}),
        ("/dev/shm", "tmpfs", {"SizeBytes": 64 * 1024**2}),
    ]
