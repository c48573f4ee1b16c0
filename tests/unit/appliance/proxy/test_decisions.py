"""appliance/proxy/decisions.py and tokens.py: who passes the proxy, and to where."""

from __future__ import annotations

import time

import pytest

from appliance.config import Config
from appliance.errors import NotFound
from appliance.projects import ProjectRef
from appliance.proxy.decisions import Router, cookie_name
from appliance.proxy.tokens import (
    Tokens,
    desktop_scope,
    files_scope,
    load_secret,
    project_scope,
    terminal_scope,
)


class Addresses:
    """Project alpha's container and user ann's desktop run; nothing else does."""

    async def agent_ip(self, project: str) -> str | None:
        return {"alpha": "10.1.0.2"}.get(project)

    async def desktop_ip(self, user: str) -> str | None:
        return {"ann": "10.2.0.7"}.get(user)

    async def terminal_target(self, ref: ProjectRef) -> tuple[str, str]:
        if ref.user_id:
            return "10.2.0.7", ref.project_id
        return {"alpha": ("10.1.0.2", ""), "pod-project": ("10.1.0.3", "t/s/pod-project")}[ref.project_id]


class FileServers:
    """Project alpha and ann's project notes have workspaces; a files container serves each."""

    async def address(self, ref: ProjectRef) -> str:
        served = {"alpha": "10.1.0.9:50052", "ann/notes": "10.1.0.10:50052"}
        if ref.key not in served:
            raise NotFound("project {project_id!r} has no workspace yet", project_id=ref.project_id)
        return served[ref.key]


TOKENS = Tokens(b"test-secret")
ROUTER = Router(Config(), TOKENS, Addresses(), FileServers())


async def decide(uri: str, key_ok: bool = False, cookies: dict | None = None):
    return await ROUTER.decide(uri, key_ok, cookies or {})


async def test_a_project_route_goes_to_that_containers_port_keeping_the_path_raw():
    decision = await decide("/proxy/alpha/5173/src/a%20b.js?v=1", key_ok=True)
    assert (decision.status, decision.upstream, decision.path) == (200, "10.1.0.2:5173", "/src/a%20b.js")


async def test_a_token_in_the_query_opens_its_project_and_becomes_a_cookie():
    token, _ = TOKENS.issue(project_scope("alpha"), 60)
    decision = await decide(f"/proxy/alpha/5173/?rcoder_token={token}")
    assert decision.status == 200 and decision.cookie.startswith(f"{cookie_name('alpha')}={token};")
    assert "Path=/proxy/alpha/" in decision.cookie
    with_cookie = await decide("/proxy/alpha/5173/app.js", cookies={cookie_name("alpha"): token})
    assert with_cookie.status == 200 and with_cookie.cookie is None


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (TOKENS.issue(project_scope("beta"), 60)[0], 403),  # another project's
        (TOKENS.issue(desktop_scope("alpha"), 60)[0], 403),  # a desktop's
        (Tokens(b"other-secret").issue(project_scope("alpha"), 60)[0], 403),  # forged
        (TOKENS.issue(project_scope("alpha"), -1)[0], 403),  # expired
    ],
)
async def test_tokens_open_their_own_project_only(token, status):
    assert (await decide(f"/proxy/alpha/5173/?rcoder_token={token}")).status == status


async def test_without_credentials_a_route_is_refused_with_401():
    assert (await decide("/proxy/alpha/5173/")).status == 401
    assert (await decide("/proxy/3000/")).status == 401


@pytest.mark.parametrize("port", [8087, 8088, 50051, 50052, 50053, 2375, 80, 65000])
async def test_the_appliances_ports_and_ports_outside_the_range_are_refused(port):
    assert (await decide(f"/proxy/alpha/{port}/", key_ok=True)).status == 403
    assert (await decide(f"/proxy/{port}/", key_ok=True)).status == 403


async def test_the_seed_route_goes_to_the_backend_host_only():
    decision = await decide("/proxy/3000/page/1?x=y", key_ok=True)
    assert (decision.upstream, decision.path) == ("127.0.0.1:3000", "/page/1")


async def test_a_project_without_a_container_and_unknown_routes_are_answered_clearly():
    assert (await decide("/proxy/gamma/5173/", key_ok=True)).status == 404
    assert (await decide("/computer/vnc/u1/p1/vnc.html", key_ok=True)).status == 404
    assert (await decide("/proxy/", key_ok=True)).status == 404


def test_the_token_secret_is_generated_once_and_kept_private(tmp_path):
    first = load_secret("", tmp_path)
    assert load_secret("", tmp_path) == first and len(first) >= 48
    assert (tmp_path / "token_secret").stat().st_mode & 0o777 == 0o600
    assert load_secret("configured", tmp_path) == b"configured"


def test_a_token_expires():
    token, expires = TOKENS.issue(project_scope("alpha"), 60)
    assert expires > time.time() and TOKENS.allows(token, project_scope("alpha"))
    assert not TOKENS.allows(token + "x", project_scope("alpha"))


@pytest.mark.parametrize(
    ("uri", "upstream", "path"),
    [
        ("/computer/vnc/ann/p1/vnc.html", "10.2.0.7:6080", "/vnc.html"),
        ("/computer/vnc/ann/p1/websockify", "10.2.0.7:6080", "/websockify"),
        ("/computer/audio/ann/p1/ws", "10.2.0.7:6089", "/ws"),
        ("/computer/audio/ann/p1/", "10.2.0.7:6090", "/"),
        ("/computer/ime/ann/p1/", "10.2.0.7:6091", "/"),
    ],
)
async def test_desktop_routes_go_to_the_users_desktop_services(uri, upstream, path):
    token, _ = TOKENS.issue(desktop_scope("ann"), 60)
    decision = await decide(f"{uri}?rcoder_token={token}")
    assert (decision.status, decision.upstream, decision.path) == (200, upstream, path)
    assert "Path=/computer/" in decision.cookie


async def test_one_users_token_does_not_open_anothers_desktop():
    token, _ = TOKENS.issue(desktop_scope("bob"), 60)
    assert (await decide(f"/computer/vnc/ann/p1/vnc.html?rcoder_token={token}")).status == 403
    project_token, _ = TOKENS.issue(project_scope("p1"), 60)
    assert (await decide(f"/computer/vnc/ann/p1/vnc.html?rcoder_token={project_token}")).status == 403


async def test_a_files_route_goes_to_the_projects_files_container_with_the_rest_of_the_path():
    decision = await decide("/agent/files/alpha/raw?path=src/a.py", key_ok=True)
    assert (decision.status, decision.upstream, decision.path) == (200, "10.1.0.9:50052", "/raw")
    desktop = await decide("/computer/files/ann/notes?path=.", key_ok=True)
    assert (desktop.status, desktop.upstream, desktop.path) == (200, "10.1.0.10:50052", "/")


async def test_a_files_token_opens_its_projects_files_and_becomes_a_cookie_for_them():
    token, _ = TOKENS.issue(files_scope(ProjectRef("alpha")), 60)
    decision = await decide(f"/agent/files/alpha/archive?rcoder_token={token}")
    assert decision.status == 200 and "Path=/agent/files/alpha;" in decision.cookie
    desktop_token, _ = TOKENS.issue(files_scope(ProjectRef("notes", "ann")), 60)
    assert (await decide(f"/computer/files/ann/notes/raw?rcoder_token={desktop_token}")).status == 200


@pytest.mark.parametrize(
    "token",
    [
        TOKENS.issue(project_scope("alpha"), 60)[0],  # a preview's: meant to be shared
        TOKENS.issue(files_scope(ProjectRef("beta")), 60)[0],  # another project's
        TOKENS.issue(files_scope(ProjectRef("alpha", "ann")), 60)[0],  # ann's Computer Agent project alpha
        TOKENS.issue(desktop_scope("alpha"), 60)[0],  # a desktop's
    ],
)
async def test_only_a_files_token_of_that_very_project_opens_its_files(token):
    assert (await decide(f"/agent/files/alpha/raw?rcoder_token={token}")).status == 403


async def test_a_files_token_opens_no_preview():
    token, _ = TOKENS.issue(files_scope(ProjectRef("alpha")), 60)
    assert (await decide(f"/proxy/alpha/5173/?rcoder_token={token}")).status == 403


async def test_files_without_credentials_or_a_workspace_are_answered_clearly():
    assert (await decide("/agent/files/alpha")).status == 401
    missing = await decide("/agent/files/gamma/raw?path=x", key_ok=True)
    assert missing.status == 404 and "no workspace" in missing.problem.template


async def test_a_terminal_goes_to_the_runners_terminal_port_with_the_gateways_path_only():
    decision = await decide("/agent/terminal/pod-project?folder=../../other&project=x", key_ok=True)
    assert (decision.status, decision.upstream) == (200, "10.1.0.3:50053")
    assert decision.target == "/terminal?project=pod-project&folder=t%2Fs%2Fpod-project"
    desktop = await decide("/computer/terminal/ann/notes", key_ok=True)
    assert desktop.target == "/terminal?project=ann%2Fnotes&folder=notes"


@pytest.mark.parametrize(
    ("token", "status"),
    [
        # Made when the tests are collected, perhaps long before this one runs: a day to live.
        (TOKENS.issue(terminal_scope(ProjectRef("alpha")), 86400)[0], 200),
        (TOKENS.issue(project_scope("alpha"), 60)[0], 403),  # a preview's
        (TOKENS.issue(files_scope(ProjectRef("alpha")), 60)[0], 403),  # a files token
        (TOKENS.issue(terminal_scope(ProjectRef("beta")), 60)[0], 403),  # another project's
        (TOKENS.issue(terminal_scope(ProjectRef("alpha")), -1)[0], 403),  # expired
        (None, 401),
    ],
)
async def test_only_a_terminal_token_of_that_very_project_opens_its_terminal(token, status):
    query = f"?rcoder_token={token}" if token else ""
    decision = await decide(f"/agent/terminal/alpha{query}")
    assert decision.status == status and decision.cookie is None
