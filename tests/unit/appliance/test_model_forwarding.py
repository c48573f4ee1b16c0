"""Stand-in model credentials: what an agent is given, what its stand-in opens, and where a forward may go."""

from __future__ import annotations

import pytest

from appliance.engines.engine import Container
from appliance.errors import Forbidden, Unauthorized
from appliance.model_forwarding import STAND_IN_PREFIX, ModelForwarding, check_destination, presented
from rcoder_rpc import agent_pb2

NETWORK = "rcoder-t-agents"


def container(name: str = "rcoder-t-agent-p1", ip: str = "172.30.0.5") -> Container:
    return Container(id=f"id-{name}", name=name, status="running", ip=ip, labels={})


def provider(
    protocol: str = "anthropic", base: str | None = "https://models.example.com"
) -> agent_pb2.ModelProviderConfig:
    return agent_pb2.ModelProviderConfig(
        id="p", provider="P", model="m", api_key="sk-real", api_base=base, api_protocol=protocol
    )


@pytest.fixture
def forwarding() -> ModelForwarding:
    forwarding = ModelForwarding(b"secret", 8090)
    forwarding.hosts[NETWORK] = "172.30.0.1"
    return forwarding


def test_the_agent_sees_a_stand_in_and_the_model_port_never_the_key(forwarding):
    seen = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=False)

    assert seen.api_key.startswith(STAND_IN_PREFIX) and "sk-real" not in str(seen)
    assert seen.api_base == "http://172.30.0.1:8090"
    assert (seen.model, seen.api_protocol) == ("m", "anthropic")
    grant = forwarding.grant(seen.api_key, "172.30.0.5")
    assert grant.provider.api_key == "sk-real" and grant.credentials() == {"x-api-key": "sk-real"}


def test_stand_ins_differ_by_container_and_project_and_repeat_for_the_same(forwarding):
    first = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=False).api_key
    again = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=False).api_key
    other_project = forwarding.stand_in(NETWORK, container(), "p2", provider(), operators=False).api_key
    other_container = forwarding.stand_in(
        NETWORK, container("c2", "172.30.0.6"), "p1", provider(), False
    ).api_key

    assert first == again
    assert len({first, other_project, other_container}) == 3


def test_a_stand_in_opens_nothing_from_another_address_or_once_its_container_is_gone(forwarding):
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=False).api_key

    with pytest.raises(Unauthorized):
        forwarding.grant(stand_in, "172.30.0.9")
    with pytest.raises(Unauthorized):
        forwarding.grant("rcoder-model-forged", "172.30.0.5")
    forwarding.revoke("rcoder-t-agent-p1")
    with pytest.raises(Unauthorized):
        forwarding.grant(stand_in, "172.30.0.5")


def test_no_key_or_no_model_port_leaves_the_provider_as_it_is(forwarding):
    keyless = agent_pb2.ModelProviderConfig(
        id="local", api_base="http://10.0.0.2:11434", api_protocol="openai"
    )
    assert forwarding.stand_in(NETWORK, container(), "p1", keyless, operators=False) == keyless
    off = ModelForwarding(b"secret", 0)
    assert off.stand_in(NETWORK, container(), "p1", provider(), operators=False).api_key == "sk-real"


def test_a_forward_stays_under_the_base_url_with_the_protocols_header(forwarding):
    openai = forwarding.stand_in(NETWORK, container(), "p1", provider("openai", None), operators=True).api_key
    grant = forwarding.grant(openai, "172.30.0.5")

    assert grant.url("/responses", "") == "https://api.openai.com/v1/responses"
    assert grant.url("models", "limit=1") == "https://api.openai.com/v1/models?limit=1"
    assert grant.credentials() == {"authorization": "Bearer sk-real"}
    for escape in ("../../admin", "v1/../../x", "a\\b"):
        with pytest.raises(Forbidden):
            grant.url(escape, "")


def test_the_stand_in_is_read_from_either_protocols_header():
    assert presented({"x-api-key": "a"}) == "a"
    assert presented({"authorization": "Bearer b"}) == "b"
    assert presented({"authorization": "Basic c"}) is None
    assert presented({}) is None


@pytest.mark.parametrize("base", ["http://127.0.0.1:8087", "http://localhost:9000", "http://169.254.169.254"])
async def test_a_clients_provider_may_not_point_the_gateway_at_this_host(forwarding, base):
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(base=base), operators=False).api_key
    with pytest.raises(Forbidden):
        await check_destination(forwarding.grant(stand_in, "172.30.0.5"))


async def test_the_operators_provider_and_other_hosts_may_be_reached(forwarding):
    local = forwarding.stand_in(NETWORK, container(), "p1", provider(base="http://127.0.0.1:11434"), True)
    await check_destination(forwarding.grant(local.api_key, "172.30.0.5"))
    private = forwarding.stand_in(NETWORK, container(), "p2", provider(base="http://10.1.2.3:8000"), False)
    await check_destination(forwarding.grant(private.api_key, "172.30.0.5"))


def restarted(operators: agent_pb2.ModelProviderConfig | None = None) -> ModelForwarding:
    """A gateway's forwarding after a restart: the same secret, no grants held."""
    return ModelForwarding(b"secret", 8090, lambda: operators)


def test_an_operators_stand_in_is_granted_again_after_a_restart_from_its_container(forwarding):
    """A turn that outlives the gateway keeps its model: its container and stand-in are checked again."""
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=True).api_key
    after = restarted(provider())

    assert after.restorable(stand_in, "172.30.0.5")
    after.restore(stand_in, "172.30.0.5", [container(), container("rcoder-t-agent-p2", "172.30.0.6")])

    grant = after.grant(stand_in, "172.30.0.5")
    assert grant.provider.api_key == "sk-real" and grant.operators and grant.container == "rcoder-t-agent-p1"


def test_a_stand_in_is_not_restored_for_another_container_at_that_address(forwarding):
    """The address was reused by a newer container: the old stand-in names the old one."""
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=True).api_key
    after = restarted(provider())
    newer = Container(id="id-newer", name="rcoder-t-agent-p1", status="running", ip="172.30.0.5", labels={})

    after.restore(stand_in, "172.30.0.5", [newer])

    with pytest.raises(Unauthorized):
        after.grant(stand_in, "172.30.0.5")


def test_a_clients_stand_in_is_never_restored_its_key_is_kept_nowhere(forwarding):
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=False).api_key
    after = restarted(provider())

    assert not after.restorable(stand_in, "172.30.0.5")
    after.restore(stand_in, "172.30.0.5", [container()])
    with pytest.raises(Unauthorized):
        after.grant(stand_in, "172.30.0.5")


def test_a_forged_or_misplaced_stand_in_restores_nothing(forwarding):
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=True).api_key
    forged_project = stand_in.replace(".cDE.", ".cDI.")  # "p1" → "p2", the HMAC left as it was
    assert forged_project != stand_in
    after = restarted(provider())

    for credential, peer in [
        (stand_in, "172.30.0.6"),
        (forged_project, "172.30.0.5"),
        ("rcoder-model-o.x.y", "172.30.0.5"),
    ]:
        after.restore(credential, peer, [container(), container("rcoder-t-agent-p2", "172.30.0.6")])
        with pytest.raises(Unauthorized):
            after.grant(credential, peer)
    assert not restarted(None).restorable(stand_in, "172.30.0.5"), (
        "no operator's provider: nothing to restore"
    )


def test_an_address_is_checked_against_the_engine_at_most_every_few_seconds(forwarding):
    """An agent sending forged stand-ins cannot make the gateway list containers on every request."""
    stand_in = forwarding.stand_in(NETWORK, container(), "p1", provider(), operators=True).api_key
    after = restarted(provider())

    assert after.restorable(stand_in, "172.30.0.5")
    assert not after.restorable(stand_in, "172.30.0.5")
    assert after.restorable(stand_in, "172.30.0.6"), "another address is checked on its own"
