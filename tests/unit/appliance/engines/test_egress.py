"""The egress policy's networks, and the firewall rules that hold them (the rules are attacked from
inside a container in tests/integration/test_egress.py)."""

from __future__ import annotations

import asyncio

from appliance.config_loader import load_config
from appliance.engines.egress import EgressPolicy, follow
from appliance.engines.firewall import forward_rules


def policy(**environ: str) -> EgressPolicy:
    return EgressPolicy.of(load_config({}, environ=environ))


async def test_allow_reaches_anywhere():
    assert await policy().networks() is None
    assert await policy(RCODER_EGRESS_ALLOW="10.0.0.0/8").networks() is None


async def test_an_allowlist_is_its_networks_and_its_resolved_names():
    allowed = policy(
        RCODER_EGRESS_POLICY="allowlist",
        RCODER_EGRESS_ALLOW="10.1.0.0/16, 192.0.2.7, localhost, nothing.invalid",
        RCODER_MODEL_PROVIDER_BASE_URL="https://203.0.113.5:8443/v1",
    )
    assert allowed.names == ("localhost", "nothing.invalid")
    # A name that does not resolve adds nothing (and is tried again at the next refresh); the model
    # provider is reached through the model port, not from the containers.
    assert await allowed.networks() == ("10.1.0.0/16", "127.0.0.1/32", "192.0.2.7/32")


async def test_none_is_nothing_and_the_model_provider_only_without_the_model_port():
    closed = policy(RCODER_EGRESS_POLICY="none", RCODER_EGRESS_ALLOW="10.1.0.0/16")
    assert await closed.networks() == ()
    model = {"RCODER_EGRESS_POLICY": "none", "RCODER_MODEL_PROVIDER_BASE_URL": "http://192.0.2.9"}
    assert await policy(**model).networks() == ()
    assert await policy(**model, RCODER_MODEL_PORT="0").networks() == ("192.0.2.9/32",)


def test_the_rules_never_open_metadata_and_end_in_a_rejection():
    assert forward_rules("C") == [["-A", "C", "-d", "169.254.0.0/16", "-j", "REJECT"]]
    rules = [" ".join(rule) for rule in forward_rules("C", ["0.0.0.0/0"])]
    assert rules.index("-A C -d 169.254.0.0/16 -j REJECT") < rules.index("-A C -d 0.0.0.0/0 -j RETURN")
    assert rules[0] == "-A C -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"
    assert rules[-2:] == [
        "-A C -p tcp -j REJECT --reject-with tcp-reset",
        "-A C -j REJECT --reject-with icmp-net-prohibited",
    ]
    assert forward_rules("C", [])[-1] == ["-A", "C", "-j", "REJECT", "--reject-with", "icmp-net-prohibited"]


async def test_follow_applies_only_what_changed():
    applied: list = []
    changed_twice = asyncio.Event()

    class Changing(EgressPolicy):
        answers = [("10.0.0.1/32",), ("10.0.0.1/32",), ("10.0.0.2/32",)]

        async def networks(self):
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    async def apply(networks):
        applied.append(networks)
        if len(applied) == 2:
            changed_twice.set()

    task = asyncio.create_task(follow(Changing("allowlist", ("a.example",)), apply, 0.01, ["10.0.0.9/32"]))
    await asyncio.wait_for(changed_twice.wait(), 5)
    task.cancel()
    assert applied == [("10.0.0.1/32",), ("10.0.0.2/32",)]
