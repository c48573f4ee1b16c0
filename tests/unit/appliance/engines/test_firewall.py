"""appliance/engines/firewall.py against a real iptables, in a network namespace of the test's own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.engines.firewall import Chains

FIREWALL = str(Path(sys.executable).with_name("rcoder-firewall"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="iptables in a network namespace needs root")


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace with Docker's DOCKER-USER chain hooked into FORWARD, as on a Docker host."""
    name = f"rct{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        inside(name, "iptables-nft", "-N", "DOCKER-USER")
        inside(name, "iptables-nft", "-A", "FORWARD", "-j", "DOCKER-USER")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def inside(netns: str, *command: str) -> str:
    result = subprocess.run(["ip", "netns", "exec", netns, *command], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rules(netns: str) -> list[str]:
    return inside(netns, "iptables-nft", "-S").splitlines()


def test_install_is_idempotent_follows_the_bridges_and_remove_takes_everything(netns):
    chains = Chains.of("stack-a")
    before = rules(netns)

    install = [FIREWALL, "install", "--stack", "stack-a", "br-one", "br-two", "--open-port", "8000"]
    printed = inside(netns, *install)
    once = rules(netns)
    inside(netns, *install)
    twice = rules(netns)

    assert printed.strip() == "stack stack-a: rules on br-one, br-two"
    assert once == twice, "a second install changes nothing"
    for bridge in ("br-one", "br-two"):
        assert f"-A INPUT -i {bridge} -j {chains.input}" in once
        assert f"-A DOCKER-USER -i {bridge} -j {chains.forward}" in once
    own = [rule for rule in once if rule.startswith(f"-A {chains.input} ")]
    assert "--ctstate RELATED,ESTABLISHED" in own[0] and own[0].endswith("-j RETURN")
    assert own[1:] == [
        f"-A {chains.input} -p tcp -m tcp --dport 8000 -j RETURN",
        f"-A {chains.input} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A {chains.input} -j REJECT --reject-with icmp-port-unreachable",
    ]
    forward = [rule for rule in once if rule.startswith(f"-A {chains.forward} ")]
    assert len(forward) == 1 and "-d 169.254.0.0/16" in forward[0] and "-j REJECT" in forward[0]

    inside(netns, FIREWALL, "install", "--stack", "stack-a", "br-two")
    after = rules(netns)
    assert f"-A INPUT -i br-one -j {chains.input}" not in after, "a bridge no longer listed is let go"
    assert not [rule for rule in after if "--dport 8000" in rule], "a port no longer open is closed"

    inside(netns, FIREWALL, "install", "--stack", "stack-b", "br-three")
    inside(netns, FIREWALL, "remove", "--stack", "stack-a")
    left = rules(netns)
    assert not [rule for rule in left if chains.input in rule or chains.forward in rule]
    assert f"-A INPUT -i br-three -j {Chains.of('stack-b').input}" in left, "other stacks keep theirs"

    inside(netns, FIREWALL, "remove", "--stack", "stack-b")
    assert rules(netns) == before


def test_without_dockers_chain_install_fails_saying_why():
    name = f"rct{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        result = subprocess.run(
            ["ip", "netns", "exec", name, FIREWALL, "install", "--stack", "s", "br-x"],
            capture_output=True,
            text=True,
        )
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
    assert result.returncode != 0
    assert "DOCKER-USER" in result.stderr and "CAP_NET_ADMIN" in result.stderr


def test_a_containers_only_port_admits_the_stacks_bridges_and_loopback_and_nobody_else(netns):
    chains = Chains.of("stack-c")
    only = chains.containers_only
    install = [FIREWALL, "install", "--stack", "stack-c", "br-one", "--containers-only-port", "8090"]

    inside(netns, *install)
    once = rules(netns)
    inside(netns, *install)

    assert rules(netns) == once, "a second install changes nothing"
    assert f"-A INPUT -p tcp -m tcp --dport 8090 -j {only}" in once
    assert f"-A {chains.input} -p tcp -m tcp --dport 8090 -j RETURN" in once, "the containers may reach it"
    own = [
        re.sub(r' -m comment --comment "[^"]*"', "", rule) for rule in once if rule.startswith(f"-A {only} ")
    ]
    assert own == [
        f"-A {only} -i br-one -j RETURN",
        f"-A {only} -i lo -j RETURN",
        f"-A {only} -p tcp -j REJECT --reject-with tcp-reset",
    ]

    inside(netns, FIREWALL, "install", "--stack", "stack-c", "br-one")
    assert not [rule for rule in rules(netns) if "--dport 8090" in rule], "a port no longer listed is let go"
    inside(netns, FIREWALL, "remove", "--stack", "stack-c")
    assert not [rule for rule in rules(netns) if only in rule]


def test_hold_installs_says_so_and_leaves_the_rules_when_stopped(netns, tmp_path):
    """A swarm node's guard: the rules, also rejecting the swarm's nodes, then the ready file its
    health check reads; stopped (a newer guard replacing it), it must not open a gap."""
    chains = Chains.of("stack-h")
    ready = tmp_path / "ready"
    hold = [FIREWALL, "hold", "--stack", "stack-h", "docker_gwbridge", "--deny=10.0.0.5/32"]
    process = subprocess.Popen(["ip", "netns", "exec", netns, *hold, f"--ready-file={ready}"])
    try:
        for _ in range(100):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        held = rules(netns)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert ready.read_text() == "stack-h\n"
    assert f"-A {chains.forward} -d 10.0.0.5/32 -j REJECT --reject-with icmp-port-unreachable" in held
    assert f"-A INPUT -i docker_gwbridge -j {chains.input}" in held
    assert rules(netns) == held, "stopping it leaves the rules"
