"""appliance/engines/swarm/guard.py: what the guard service runs, and where."""

from __future__ import annotations

from appliance.engines.swarm.guard import guard_command, guard_template, node_addresses

NODES = [
    {"Status": {"Addr": "0.0.0.0"}, "ManagerStatus": {"Addr": "172.17.0.1:2377"}},
    {"Status": {"Addr": "172.17.0.3"}},
    {"Status": {"Addr": "172.17.0.4"}},
]


def test_every_nodes_address_is_denied_a_managers_from_its_manager_address():
    assert node_addresses(NODES) == {"172.17.0.1/32", "172.17.0.3/32", "172.17.0.4/32"}


def test_the_guard_holds_the_stacks_rules_for_the_bridge_tasks_leave_a_node_by():
    command = guard_command("prod", [8000], ["10.1.0.0/16"], node_addresses(NODES))

    assert command == [
        "rcoder-firewall",
        "hold",
        "--stack",
        "prod",
        "docker_gwbridge",
        "--open-port=8000",
        "--deny=172.17.0.1/32",
        "--deny=172.17.0.3/32",
        "--deny=172.17.0.4/32",
        "--egress=10.1.0.0/16",
    ]
    assert "--egress=" in guard_command("prod", [], [], []), "no egress at all"
    assert not [a for a in guard_command("prod", [], None, []) if a.startswith("--egress")], "anywhere"


def test_the_guard_runs_on_each_allowed_node_in_its_network_with_only_what_iptables_needs():
    template = guard_template(
        "reg:5000/rcoder/gateway:dev@sha256:ab", ["rcoder-firewall"], ["node.role==worker"]
    )
    container = template["ContainerSpec"]

    assert template["Networks"] == [{"Target": "host"}]
    assert template["Placement"]["Constraints"] == ["node.role==worker"]
    assert container["CapabilityDrop"] == ["ALL"] and container["CapabilityAdd"] == ["NET_ADMIN", "NET_RAW"]
    assert container["ReadOnly"] is True
    assert container["Healthcheck"]["Test"] == ["CMD", "test", "-e", "/run/rcoder-guard/ready"]
