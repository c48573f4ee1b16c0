"""The git broker on the real engine, against a real git server (smart HTTP behind Basic auth,
tests/integration/git_server.py) whose login only the appliance's config file holds: a chat's repository
is cloned through the broker before the agent's first turn, the agent's pushes pass or are refused by the
push policy, the broker opens only from the container its stand-in was made for and only for git's
protocol, and the token is nowhere an agent could read it."""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.integration.browser import open_page
from tests.integration.conftest import chat, project_id
from tests.integration.git_server import MARKER, OTHER_REPOSITORY, GitServer, run_git_server
from tests.integration.reach import reach
from tests.integration.sse import Event, read_all
from tests.integration.test_console import open_project, shot, sign_in, text_of
from tests.stack import Appliance, agent_containers, image, run_appliance

pytestmark = pytest.mark.engine

WORKSPACE = "/app/project_workspace"
GIT_CONFIG = "/tmp/rcoder-git/config"  # the container's system git config (runner/git_access.py)
AGENT_EVENTS = {"plan", "agent_message_chunk", "agent_thought_chunk", "tool_call"}


@pytest.fixture(scope="module")
def git_server(engine) -> Iterator[GitServer]:
    labels = {"rcoder.kind": "test-git-server", "rcoder.test-run": uuid.uuid4().hex[:8]}
    with run_git_server(engine, image("agent"), labels) as server:
        yield server


@pytest.fixture(scope="module")
def broker_appliance(engine, git_server) -> Iterator[Appliance]:
    """An appliance whose config file holds the git server's login, and lets pushes move rcoder/*."""
    config = {
        "git_credentials": {git_server.url: {"username": git_server.user, "token": git_server.token}},
        "git": {"push_branches": "rcoder/*"},
    }
    with run_appliance(engine, config=config) as running:
        yield running


@pytest.fixture(scope="module")
def client(broker_appliance) -> Iterator[httpx.Client]:
    with broker_appliance.client() as client:
        yield client


@pytest.fixture(scope="module")
def seen() -> list[Event]:
    """Every event the module's turns streamed, for the search for the token."""
    return []


def turn(client: httpx.Client, seen: list[Event], project: str, prompt: str, **extra) -> list[Event]:
    events = read_all(client, chat(client, project, prompt, **extra)["session_id"])
    seen.extend(events)
    return events


@dataclass
class Cloned:
    project: str
    events: list[Event]
    container: object  # docker's Container


@pytest.fixture(scope="module")
def cloned(client, engine, broker_appliance, git_server, seen) -> Cloned:
    """A project whose first chat cloned acme/app from the git server."""
    project = project_id()
    events = turn(client, seen, project, "hello", repository={"url": git_server.repository_url()})
    [container] = agent_containers(engine, broker_appliance.stack, project)
    return Cloned(project, events, container)


def git(container, *args: str, seconds: int = 20, **environment: str):
    """git in the agent's container as the agent's programs run it (uid 1000, reading the system config
    its runner wrote: docker exec does not pass on the runner's environment), for `seconds` at most."""
    env = {"GIT_CONFIG_SYSTEM": GIT_CONFIG, "GIT_TERMINAL_PROMPT": "0", **environment}
    command = ["timeout", str(seconds), "git", *args]
    return container.exec_run(command, user="1000", workdir=WORKSPACE, environment=env)


def reply(events: list[Event]) -> str:
    return "".join(e.data["data"]["content"]["text"] for e in events if e.event == "agent_message_chunk")


def test_a_repository_is_cloned_before_the_agents_first_turn(client, cloned, git_server):
    kinds = [e.event for e in cloned.events]
    assert kinds[0] == "prompt_start" and kinds[-1] == "end_turn", kinds
    first_agent = min(kinds.index(kind) for kind in AGENT_EVENTS if kind in kinds)
    assert "git_clone" in kinds and kinds.index("git_clone") < kinds.index("git_clone_end") < first_agent
    end = cloned.events[kinds.index("git_clone_end")].data["data"]
    assert end["commit"] == git_server.commit_of("main") and end["ref"] == "main"

    agents_md = client.get(f"/agent/files/{cloned.project}/raw", params={"path": "AGENTS.md"})
    assert agents_md.status_code == 200 and MARKER in agents_md.text
    listed = client.get(f"/agent/files/{cloned.project}").json()["data"]["entries"]
    assert {"README.md", "AGENTS.md", ".git"} <= {entry["name"] for entry in listed}


def test_a_bad_ref_ends_the_turn_with_an_error_and_leaves_the_workspace_empty(client, git_server, seen):
    project = project_id()
    repository = {"url": git_server.repository_url(), "ref": "no-such-branch"}

    events = turn(client, seen, project, "hello", repository=repository)

    assert events[-1].event == "error", [e.event for e in events]
    assert "could not be cloned" in events[-1].data["data"]["message"]
    assert not AGENT_EVENTS & {e.event for e in events}
    listed = client.get(f"/agent/files/{project}").json()["data"]["entries"]
    assert {entry["name"] for entry in listed} <= {"lost+found"}


def test_a_repository_is_cloned_into_a_new_project_only(client, cloned, git_server):
    body = {
        "prompt": "hello",
        "project_id": cloned.project,
        "repository": {"url": git_server.repository_url()},
    }

    response = client.post("/chat", json=body)

    assert response.status_code == 409, response.text


def test_the_agents_push_to_an_allowed_branch_lands_on_the_server(client, cloned, git_server, seen):
    prompt = 'create feature.txt then commit "Add a feature" then push rcoder/feature'

    events = turn(client, seen, cloned.project, prompt)

    assert events[-1].event == "end_turn" and "I pushed to rcoder/feature" in reply(events), reply(events)
    code, head = cloned.container.exec_run(["git", "rev-parse", "HEAD"], workdir=WORKSPACE, user="1000")
    assert code == 0 and git_server.commit_of("rcoder/feature") == head.decode().strip()
    assert head.decode().strip() != git_server.commit_of("main")


def test_a_push_to_a_branch_the_policy_does_not_allow_is_refused_and_logged(
    client, engine, broker_appliance, cloned, git_server, seen
):
    main = git_server.commit_of("main")

    events = turn(client, seen, cloned.project, 'create other.txt then commit "Other" then push main')

    failed = [e for e in events if e.event == "tool_call_update" and e.data["data"].get("status") == "failed"]
    assert failed and "I pushed" not in reply(events), reply(events)
    assert "403" in json.dumps(failed[-1].data)
    assert git_server.commit_of("main") == main
    logged = broker_appliance.gateway(engine).logs().decode()
    assert (
        f"for project {cloned.project} ({cloned.container.name}): refused (this project may not push to branch main"
        in logged
    )


def test_a_push_larger_than_gits_post_buffer_streams_through(cloned, git_server):
    """Past http.postBuffer (1 MiB) git sends its pack chunked: the broker reads the commands at its
    head and streams the rest on."""
    code, output = cloned.container.exec_run(
        ["sh", "-c", "head -c 5242880 /dev/urandom > big.bin"], user="1000", workdir=WORKSPACE
    )
    assert code == 0, output
    assert git(cloned.container, "add", "big.bin").exit_code == 0
    assert git(cloned.container, "commit", "-q", "-m", "A big file").exit_code == 0

    result = git(cloned.container, "push", "origin", "HEAD:refs/heads/rcoder/big", seconds=60)

    assert result.exit_code == 0, result.output
    head = git(cloned.container, "rev-parse", "HEAD").output.decode().strip()
    assert git_server.commit_of("rcoder/big") == head


def test_a_push_to_another_repository_than_the_cloned_one_is_refused(cloned, git_server):
    other = git_server.repository_url(OTHER_REPOSITORY)

    result = git(cloned.container, "push", other, "HEAD:refs/heads/rcoder/elsewhere")

    assert result.exit_code != 0 and b"403" in result.output, result.output
    assert git_server.commit_of("rcoder/elsewhere", OTHER_REPOSITORY) is None


def test_git_in_the_container_reaches_the_server_through_the_broker_only(cloned, git_server):
    without_login = httpx.get(f"{git_server.repository_url()}/info/refs?service=git-upload-pack", timeout=10)
    through_broker = git(cloned.container, "ls-remote", git_server.repository_url())
    direct = git(
        cloned.container, "ls-remote", git_server.repository_url(), seconds=5, GIT_CONFIG_NOSYSTEM="1"
    )
    outcome = reach(cloned.container, [(git_server.address, 8000)])

    assert without_login.status_code == 401  # the control: the server wants the login the broker adds
    assert through_broker.exit_code == 0, through_broker.output
    assert f"{git_server.commit_of('main')}\trefs/heads/main" in through_broker.output.decode()
    assert direct.exit_code != 0, direct.output
    assert outcome[(git_server.address, 8000)] != "open", outcome


def broker_access(container) -> tuple[str, str]:
    """The broker's base URL and the Authorization header the container's git config sends there."""
    code, output = container.exec_run(
        ["git", "config", "-f", GIT_CONFIG, "--get-regexp", r"^http\..*\.extraheader$"]
    )
    assert code == 0, output
    key, _, header = output.decode().strip().partition(" ")
    return key.removeprefix("http.").removesuffix(".extraheader"), header.partition(": ")[2]


def fetch(container, url: str, authorization: str) -> int:
    """The status of a GET of `url` from inside `container`, with that Authorization header."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        "request = urllib.request.Request(sys.argv[1], headers={'Authorization': sys.argv[2]})\n"
        "try:\n    print(urllib.request.urlopen(request, timeout=10).status)\n"
        "except urllib.error.HTTPError as error:\n    print(error.code)\n"
    )
    code, output = container.exec_run(["python3", "-c", script, url, authorization])
    assert code == 0, output
    return int(output.decode().strip())


def test_the_broker_opens_for_its_own_container_and_for_git_only(
    client, engine, broker_appliance, cloned, git_server, seen
):
    other = project_id()
    turn(client, seen, other, "hello")
    [container_b] = agent_containers(engine, broker_appliance.stack, other)
    base, a_stand_in = broker_access(cloned.container)
    _, b_stand_in = broker_access(container_b)
    host = git_server.url.replace("://", "/", 1)
    refs = f"{base}{host}/acme/app.git/info/refs?service=git-upload-pack"

    assert a_stand_in != b_stand_in
    assert fetch(container_b, refs, b_stand_in) == 200  # the control: B's own
    assert fetch(container_b, refs, a_stand_in) == 401
    assert fetch(container_b, refs, "Bearer rcoder-git-forged.AAAA.BBBB") == 401
    assert fetch(container_b, f"{base}{host}/api/v3/user", b_stand_in) == 403
    assert fetch(container_b, f"{base}{host}/acme/app.git/info/lfs/objects/batch", b_stand_in) == 403


def found_in(data: bytes, git_server: GitServer) -> bool:
    """Whether `data` holds the token, as itself or inside a Basic login."""
    login = base64.b64encode(f"{git_server.user}:{git_server.token}".encode())
    return git_server.token.encode() in data or login in data


def test_the_token_is_nowhere_an_agent_or_a_client_could_read_it(
    engine, broker_appliance, cloned, git_server, seen
):
    # Read out of the container by programs whose own command lines do not hold the token.
    processes = (
        "import glob, sys\n"
        "for path in glob.glob('/proc/[0-9]*/environ') + glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n        sys.stdout.buffer.write(open(path, 'rb').read())\n"
        "    except OSError as error:\n        print('unreadable', path, error, file=sys.stderr)\n"
    )
    # As the agent's user: root in the container lacks CAP_SYS_PTRACE, and reads no other user's.
    proc = cloned.container.exec_run(["python3", "-c", processes], user="1000", demux=True)
    files = cloned.container.exec_run(
        ["tar", "-cf", "-", "--ignore-failed-read", WORKSPACE, "/tmp", "/home/agent"], user="0", demux=True
    )
    gateway_log = broker_appliance.gateway(engine).logs()

    assert proc.output[0] and b"rcoder-runner" in proc.output[0] and proc.output[1] is None, proc.output[1]
    assert not found_in(proc.output[0], git_server)
    assert files.output[0] and b"AGENTS.md" in files.output[0] and b"rcoder-git" in files.output[0]
    assert not found_in(files.output[0], git_server)
    assert not found_in(json.dumps(cloned.container.attrs["Config"]["Env"]).encode(), git_server)
    assert (
        f"git broker: git-receive-pack {git_server.address}:8000/acme/app for project {cloned.project}".encode()
        in gateway_log
    )
    assert not found_in(gateway_log, git_server)
    assert len(seen) > 20 and not found_in(json.dumps([e.data for e in seen]).encode(), git_server)


def test_a_requests_credentials_for_this_host_are_refused_before_anything_starts(
    client, broker_appliance, engine, git_server, seen
):
    """A host a request names that resolves to loopback: the gateway (on the host's network) would
    send the request's login, and git's traffic, to a service of this host. The chat is refused
    before its container starts, so the project is still new."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(2)
        port = listener.getsockname()[1]
        project = project_id()
        credentials = {"token": "a-token-of-its-own"}
        repository = {"url": f"https://localhost:{port}/x/y.git", "credentials": credentials}

        response = client.post(
            "/chat", json={"prompt": "hello", "project_id": project, "repository": repository}
        )

        assert response.status_code == 403, response.text
        assert "localhost" in response.json()["message"]
        with pytest.raises(TimeoutError):
            listener.accept()
    assert agent_containers(engine, broker_appliance.stack, project) == []
    events = turn(client, seen, project, "hello", repository={"url": git_server.repository_url()})
    assert events[-1].event == "end_turn", [e.event for e in events]


def test_the_console_shows_the_agents_changes(client, broker_appliance, cloned, seen, tmp_path):
    turn(client, seen, cloned.project, 'create review.txt with content "for the reviewer"')

    with open_page(f"{broker_appliance.url}/console/", tmp_path / "profile") as page:
        sign_in(page, broker_appliance.api_key)
        open_project(page, cloned.project)
        page.wait_for("!document.querySelector('[data-tab=changes]').hidden", 30)
        page.click("[data-tab=changes]")
        page.wait_for("document.querySelector('#changes-diff').innerText.includes('+for the reviewer')", 30)
        listed = text_of(page, "#changes-files")
        summary = text_of(page, "#changes-summary")
        shot(page, "13-changes")

    assert "untracked review.txt" in " ".join(listed.split())
    assert "commit(s) since the clone" in summary


@pytest.mark.parametrize("state", ["running", "paused", "removed"])
def test_what_the_agent_changed_is_reviewed_whatever_its_containers_state(
    client, engine, broker_appliance, cloned, state
):
    """Last in the module: it pauses and removes the cloned project's container."""
    found = agent_containers(engine, broker_appliance.stack, cloned.project)
    if state == "paused" and found:
        found[0].pause()
    elif state == "removed" and found:
        found[0].remove(force=True)

    status = client.get(f"/agent/git/{cloned.project}/status")
    diff = client.get(f"/agent/git/{cloned.project}/diff")

    assert status.status_code == 200, status.text
    data = status.json()["data"]
    assert data["base"] and data["commits_since_base"] >= 1, data
    assert {"path": "review.txt", "status": "untracked", "staged": False} in [
        {k: f[k] for k in ("path", "status", "staged")} for f in data["files"]
    ]
    assert diff.headers["content-type"].startswith("text/x-diff")
    assert "+for the reviewer" in diff.text and "feature.txt" in diff.text
