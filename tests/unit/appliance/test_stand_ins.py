"""appliance/stand_ins.py: a stand-in opens its grant from its own container only, while that lives."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from appliance.engines.engine import Container
from appliance.errors import Unauthorized
from appliance.stand_ins import StandIns


@dataclass(frozen=True)
class Grant:
    container: str
    address: str | None
    secret: str


def container(name: str = "rcoder-t-agent-p1", ip: str = "172.30.0.5") -> Container:
    return Container(id=f"id-{name}", name=name, status="running", ip=ip, labels={})


def test_a_stand_in_opens_its_grant_from_its_containers_address_only():
    stand_ins: StandIns[Grant] = StandIns(b"secret", "rcoder-x-", "x credential")
    credential = stand_ins.issue(container(), "p1", True, Grant("rcoder-t-agent-p1", "172.30.0.5", "s"))

    assert credential.startswith("rcoder-x-o.") and "s" not in credential.split(".")
    assert stand_ins.grant(credential, "172.30.0.5").secret == "s"
    with pytest.raises(Unauthorized, match="unknown x credential"):
        stand_ins.grant(credential, "172.30.0.6")
    stand_ins.revoke("rcoder-t-agent-p1")
    with pytest.raises(Unauthorized):
        stand_ins.grant(credential, "172.30.0.5")


def test_kinds_of_stand_in_do_not_open_each_other():
    model: StandIns[Grant] = StandIns(b"secret", "rcoder-model-", "model credential")
    git: StandIns[Grant] = StandIns(b"secret", "rcoder-git-", "git credential")
    credential = model.issue(container(), "p1", True, Grant("rcoder-t-agent-p1", "172.30.0.5", "s"))

    with pytest.raises(Unauthorized):
        git.grant(credential, "172.30.0.5")
    assert git.project_of(credential) is None and model.project_of(credential) == "p1"


def test_only_an_operators_stand_in_is_found_again_for_the_container_it_was_made_for():
    stand_ins: StandIns[Grant] = StandIns(b"secret", "rcoder-x-", "x credential")
    mine = container()
    operators = stand_ins.credential(mine, "p1", "o")
    clients = stand_ins.credential(mine, "p1", "c")
    other = container("rcoder-t-agent-p2")

    assert stand_ins.restorable(operators, "172.30.0.5")
    assert stand_ins.made_for(operators, "172.30.0.5", [mine]) == mine
    assert stand_ins.made_for(operators, "172.30.0.5", [other]) is None
    assert not stand_ins.restorable(clients, "172.30.0.7")
    assert not stand_ins.restorable(operators, "172.30.0.5"), "one address is checked every few seconds"
