"""appliance/git_forwarding.py: what a container's git is given, and what its stand-in opens."""

from __future__ import annotations

import pytest

from appliance.config import Config, GitCredential
from appliance.engines.engine import Container
from appliance.errors import Forbidden, Unauthorized
from appliance.git_forwarding import GitForwarding, host_key, repository_of
from appliance.model_forwarding import ModelForwarding
from rcoder_wire.bodies import Repository

NETWORK = "rcoder-t-agents"


def container(name: str = "rcoder-t-agent-p1", ip: str = "172.30.0.5") -> Container:
    return Container(id=f"id-{name}", name=name, status="running", ip=ip, labels={})


async def nothing_cloned(project: str) -> str | None:
    return "http://git.local:8000/acme/app.git"


def broker(model_port: int = 8090) -> GitForwarding:
    config = Config(git_credentials={"http://git.local:8000": GitCredential(token="s3cret-token")})
    model = ModelForwarding(b"secret", model_port)
    model.hosts[NETWORK] = "172.30.0.1"
    return GitForwarding(b"git-secret", config, model, nothing_cloned)


def test_host_keys_and_repository_names():
    assert host_key("github.com") == "https://github.com"
    assert host_key("HTTP://Git.Local:8000/") == "http://git.local:8000"
    assert repository_of("https://github.com/acme/app.git") == "github.com/acme/app"


async def test_the_container_gets_routes_and_a_stand_in_never_the_token():
    git = broker()

    access = await git.access(NETWORK, container(), "p1", None, "http://git.local:8000/acme/app.git")

    assert "s3cret-token" not in str(access)
    assert access.stand_in.startswith("rcoder-git-o.")
    assert access.broker_base == "http://172.30.0.1:8090/rcoder-git/"
    [route] = access.routes
    assert (route.prefix, route.broker_url) == (
        "http://git.local:8000/",
        "http://172.30.0.1:8090/rcoder-git/http/git.local:8000/",
    )
    grant = git.grant(access.stand_in, "172.30.0.5")
    assert git.login(grant, "http://git.local:8000").token == "s3cret-token"
    assert grant.cloned == "git.local:8000/acme/app"
    assert "s3cret" not in repr(grant)


async def test_a_stand_in_opens_nothing_elsewhere_and_nothing_after_its_container_went():
    git = broker()
    access = await git.access(NETWORK, container(), "p1", None, None)

    with pytest.raises(Unauthorized):
        git.grant(access.stand_in, "172.30.0.9")
    with pytest.raises(Forbidden, match=r"no credential for https://github\.com"):
        git.login(git.grant(access.stand_in, "172.30.0.5"), "https://github.com")
    git.revoke("rcoder-t-agent-p1")
    with pytest.raises(Unauthorized):
        git.grant(access.stand_in, "172.30.0.5")


async def test_a_requests_login_is_the_clients_and_is_never_restored():
    git = broker()
    repository = Repository(url="https://example.com/acme/app.git", credentials={"token": "client-token"})

    access = await git.access(NETWORK, container(), "p1", repository, repository.url)

    assert access.stand_in.startswith("rcoder-git-c.")
    assert {route.prefix for route in access.routes} == {"http://git.local:8000/", "https://example.com/"}
    git.revoke("rcoder-t-agent-p1")
    assert not git.restorable(access.stand_in, "172.30.0.5")


async def test_an_operators_stand_in_is_granted_again_after_a_restart():
    before = await broker().access(NETWORK, container(), "p1", None, None)
    restarted = broker()

    assert restarted.restorable(before.stand_in, "172.30.0.5")
    await restarted.restore(before.stand_in, "172.30.0.5", [container()])

    grant = restarted.grant(before.stand_in, "172.30.0.5")
    assert grant.cloned == "git.local:8000/acme/app"


async def test_no_broker_no_access_and_plain_http_only_for_the_operators_hosts():
    assert await broker(model_port=0).access(NETWORK, container(), "p1", None, None) is None
    git = broker()
    await git.check_repository(Repository(url="http://git.local:8000/acme/app.git"))
    with pytest.raises(Forbidden, match="plain http"):
        await git.check_repository(Repository(url="http://elsewhere.example/acme/app.git"))
    with pytest.raises(Forbidden, match="no git broker"):
        await broker(model_port=0).check_repository(
            Repository(url="https://example.com/a/b", credentials={"token": "t"})
        )


async def test_a_clients_repository_may_not_point_the_broker_at_this_host():
    repository = Repository(url="https://localhost/acme/app.git", credentials={"token": "t"})
    with pytest.raises(Forbidden, match="points at this host"):
        await broker().check_repository(repository)
    with pytest.raises(Forbidden, match="points at this host"):
        await broker().access(NETWORK, container(), "p1", repository, repository.url)
