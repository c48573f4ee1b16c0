"""A project's terminal through the proxy: a shell in its container, as the agent's user, in its
workspace; resized; bounded per project; gone with every process it started when the socket closes;
opened by the API key or a terminal token only; a paused or removed project's container brought back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.stack import agent_containers

pytestmark = pytest.mark.engine

WORKSPACE = "/app/project_workspace"


def ws_url(appliance, path: str) -> str:
    return appliance.url.replace("http://", "ws://") + path


@contextmanager
def terminal(appliance, project: str, token: str | None = None) -> Iterator[ClientConnection]:
    if token is None:
        socket = connect(
            ws_url(appliance, f"/agent/terminal/{project}"),
            additional_headers={"x-api-key": appliance.api_key},
            open_timeout=60,
        )
    else:
        socket = connect(
            ws_url(appliance, f"/agent/terminal/{project}?rcoder_token={token}"), open_timeout=60
        )
    with socket:
        yield socket


def run(socket: ClientConnection, command: str, expect: str, seconds: float = 20) -> str:
    """Type `command`; read the terminal until `expect` shows (the echo aside), or fail after `seconds`."""
    socket.send(f"{command}\r".encode())
    seen, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen += socket.recv(timeout=max(deadline - time.monotonic(), 0.1)).decode("utf-8", "replace")
        if seen.count(expect) >= (2 if expect in command else 1):
            return seen
    raise AssertionError(f"{expect!r} never showed; the terminal said {seen!r}")


def new_project(client) -> str:
    project = project_id()
    events = read_all(client, chat(client, project, "create hello.txt")["session_id"])
    assert events[-1].event == "end_turn"
    return project


def test_a_shell_in_the_workspace_as_the_agents_user_that_echoes_and_resizes(client, appliance):
    project = new_project(client)
    with terminal(appliance, project) as socket:
        run(socket, "echo $((6*7))", "42")
        run(socket, "echo ID=$(id -u) PWD=$(pwd)", f"ID=1000 PWD={WORKSPACE}")
        run(socket, "cat hello.txt", "Hello from the RCoder demo agent!")
        socket.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
        run(socket, "stty size", "40 120")
        socket.send(b"exit 3\r")
        with pytest.raises(Exception):  # noqa: B017 (the close ends the iteration with ConnectionClosed)
            while True:
                socket.recv(timeout=10)
    assert socket.close_code == 1000 and json.loads(socket.close_reason) == {"exit": 3}


def test_closing_the_socket_ends_every_process_the_shell_started(client, appliance, engine, stack):
    project = new_project(client)
    with terminal(appliance, project) as socket:
        run(socket, "sleep 1001 & nohup sleep 1002 >/dev/null 2>&1 & echo STARTED", "STARTED")
    [container] = agent_containers(engine, stack, project)

    def gone() -> bool:
        listed = container.exec_run(
            ["sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"]
        ).output
        return b"sleep 1001" not in listed and b"sleep 1002" not in listed

    eventually(gone, 15, "the shell's processes to end")


def test_a_project_has_at_most_four_terminals(client, appliance):
    project = new_project(client)
    with (
        terminal(appliance, project),
        terminal(appliance, project),
        terminal(appliance, project),
        terminal(appliance, project) as fourth,
    ):
        run(fourth, "echo FOURTH", "FOURTH")
        with pytest.raises(InvalidStatus) as refused, terminal(appliance, project):
            pass
    assert refused.value.response.status_code == 429


def test_only_the_api_key_or_a_terminal_token_of_that_project_opens_it(client, appliance):
    project, other = new_project(client), project_id()
    token = client.post("/proxy/token", json={"project_id": project, "access": "terminal"}).json()["data"]
    preview = client.post("/proxy/token", json={"project_id": project}).json()["data"]["token"]
    files = client.post("/proxy/token", json={"project_id": project, "access": "files"}).json()["data"][
        "token"
    ]
    others = client.post("/proxy/token", json={"project_id": other, "access": "terminal"}).json()["data"][
        "token"
    ]

    with terminal(appliance, project, token=token["token"]) as socket:
        run(socket, "echo TOKEN-OK", "TOKEN-OK")
    assert token["terminal_url"].startswith(f"/agent/terminal/{project}?rcoder_token=")
    for wrong, status in ((preview, 403), (files, 403), (others, 403), ("forged.token", 403)):
        with pytest.raises(InvalidStatus) as refused, terminal(appliance, project, token=wrong):
            pass
        assert refused.value.response.status_code == status
    with (
        pytest.raises(InvalidStatus) as nothing,
        connect(ws_url(appliance, f"/agent/terminal/{project}"), open_timeout=30),
    ):
        pass
    assert nothing.value.response.status_code == 401
    direct = httpx.get(f"{appliance.url}/proxy/{project}/50053/", headers={"x-api-key": appliance.api_key})
    assert direct.status_code == 403, "the terminal port is the appliance's, not a preview's"


@pytest.mark.parametrize("state", ["paused", "removed"])
def test_a_terminal_brings_back_a_paused_or_removed_projects_container(
    client, appliance, engine, stack, state
):
    project = new_project(client)
    [container] = agent_containers(engine, stack, project)
    if state == "paused":
        container.pause()
    else:
        container.remove(force=True)

    with terminal(appliance, project) as socket:
        run(socket, "cat hello.txt", "Hello from the RCoder demo agent!")

    [back] = agent_containers(engine, stack, project)
    assert back.status == "running"
