"""runner/terminal.py: a real server on a local port, a real PTY and bash, a websockets client."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from runner.terminal import TerminalLimits, Terminals, serve_terminals, session_members
from tests.eventually import eventually_async

WAIT = 5.0  # seconds any one expected thing may take


@pytest.fixture
async def start(tmp_path, monkeypatch):
    """Start a terminal server on the workspace tmp_path/workspace; each is closed at teardown."""
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("HOME", str(tmp_path))  # no profile of the machine's user
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    started: list[Terminals] = []

    async def start(limits: TerminalLimits | None = None, per_project_dirs: bool = False) -> Terminals:
        limits = limits or TerminalLimits()
        terminals = await serve_terminals("127.0.0.1", 0, workspace, per_project_dirs, limits)
        started.append(terminals)
        return terminals

    yield start
    for terminals in started:
        await terminals.close()


@pytest.fixture
async def terminals(start):
    return await start()


def url(terminals: Terminals, query: str = "project=p1") -> str:
    return f"ws://127.0.0.1:{terminals.port}/terminal?{query}"


async def read_until(websocket: ClientConnection, text: str) -> str:
    """The terminal's output up to and including `text`."""
    seen = b""
    async with asyncio.timeout(WAIT):
        while text.encode() not in seen:
            seen += await websocket.recv(decode=False)
    return seen.decode(errors="replace")


async def run(websocket: ClientConnection, command: str, marker: str) -> str:
    await websocket.send(f"{command}\r".encode())
    return await read_until(websocket, marker)


async def shell_pid(websocket: ClientConnection) -> int:
    """The shell's pid, which is its session's id too."""
    await websocket.send(b"echo shell=$$.\r")
    seen = ""
    async with asyncio.timeout(WAIT):
        while not (found := re.search(r"shell=(\d+)\.", seen)):
            seen += (await websocket.recv(decode=False)).decode(errors="replace")
    return int(found[1])


async def closed(
    websocket: ClientConnection, output: bytearray | None = None
) -> tuple[int | None, str | None]:
    """The code and reason the server closed with, once it has (the output until then in `output`)."""
    output = bytearray() if output is None else output
    async with asyncio.timeout(WAIT):
        with pytest.raises(ConnectionClosed):
            while True:
                output += await websocket.recv(decode=False)
    return websocket.close_code, websocket.close_reason


async def refusal(address: str) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(address, open_timeout=WAIT):
            pass
    response = refused.value.response
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.body)


async def until(check: Callable[[], object], what: str) -> None:
    async def checked() -> object:
        return check()

    await eventually_async(checked, WAIT, what, interval=0.05)


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


async def test_the_shell_runs_a_command(terminals):
    async with connect(url(terminals)) as websocket:
        assert "answer=42" in await run(websocket, "echo answer=$((6*7))", "answer=42")
        assert terminals.active == 1


async def test_a_resize_sets_the_window_size(terminals):
    async with connect(url(terminals)) as websocket:
        await websocket.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
        assert "size=40 120" in await run(websocket, 'echo "size=$(stty size)"', "size=40 120")


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "bogus"}',
        "not json",
        '{"type": "resize", "cols": 0, "rows": 40}',
        '{"type": "resize", "cols": 80, "rows": 1001}',
    ],
)
async def test_any_other_text_frame_closes_with_1003(terminals, frame):
    async with connect(url(terminals)) as websocket:
        await websocket.send(frame)
        code, _ = await closed(websocket)
    assert code == 1003


async def test_the_shells_exit_status_closes_the_socket_after_its_last_output(terminals):
    output = bytearray()
    async with connect(url(terminals)) as websocket:
        await websocket.send(b"echo last=$((1+1)); exit 3\r")
        assert await closed(websocket, output) == (1000, '{"exit": 3}')
    assert b"last=2" in output
    await until(lambda: terminals.active == 0, "the terminal ending")


async def test_the_shell_starts_in_the_workspace_or_the_folder(terminals, tmp_path):
    (tmp_path / "workspace" / "pods" / "p2").mkdir(parents=True)
    for query, where in [("project=p1", "workspace"), ("project=p2&folder=pods/p2", "workspace/pods/p2")]:
        async with connect(url(terminals, query)) as websocket:
            output = await run(websocket, 'echo "cwd=$(pwd)."', f"cwd={tmp_path / where}.")
            assert f"cwd={tmp_path / where}." in output


async def test_with_per_project_dirs_the_shell_starts_in_the_projects_folder(start, tmp_path):
    terminals = await start(per_project_dirs=True)
    async with connect(url(terminals)) as websocket:
        await run(websocket, 'echo "cwd=$(pwd)."', f"cwd={tmp_path / 'workspace' / 'p1'}.")


@pytest.mark.parametrize(
    "query", ["project=p1&folder=../etc", "project=p1&folder=/etc", "project=p1&folder=missing", "project=.."]
)
async def test_a_bad_project_or_folder_is_refused_with_400(terminals, query):
    status, body = await refusal(url(terminals, query))
    assert status == 400 and body["code"] == "VALIDATION_ERROR" and body["success"] is False


async def test_another_path_is_404(terminals):
    status, body = await refusal(f"ws://127.0.0.1:{terminals.port}/other")
    assert (status, body["code"]) == (404, "NOT_FOUND")


async def test_the_fifth_terminal_of_a_project_is_refused_with_429(terminals):
    sockets = [await connect(url(terminals)) for _ in range(4)]
    try:
        status, body = await refusal(url(terminals))
        assert (status, body["code"], body["data"], body["tid"]) == (429, "TOO_MANY_REQUESTS", None, "")
        assert "'p1'" in body["message"]
        async with connect(url(terminals, "project=p2")) as other:
            await run(other, "echo other=$((1+1))", "other=2")
            assert terminals.active == 5
    finally:
        for websocket in sockets:
            await websocket.close()
    # A closed terminal frees its place.
    await until(lambda: terminals.active == 0, "the closed terminals ending")
    async with connect(url(terminals)) as websocket:
        await run(websocket, "echo again=$((2+2))", "again=4")


async def test_closing_the_socket_ends_the_shells_whole_session(terminals):
    """A background job and a `nohup` one (which ignores the hangup) are both gone: the SIGKILL to the
    session catches what the hangup does not. (`setsid cmd` leaves the session and is not caught.)"""
    async with connect(url(terminals)) as websocket:
        await websocket.send(b"sleep 1000 & nohup sleep 1001 >/dev/null 2>&1 &\r")
        session = await shell_pid(websocket)
        await until(lambda: len(session_members(session)) == 3, "bash and both sleeps running")
        members = session_members(session)
    await until(lambda: not any(map(alive, members)), "the session's processes exiting")
    assert session_members(session) == []
    await until(lambda: terminals.active == 0, "the terminal ending")


async def test_an_idle_terminal_is_closed(start):
    terminals = await start(TerminalLimits(idle_seconds=0.5))
    async with connect(url(terminals)) as websocket:
        session = await shell_pid(websocket)
        assert await closed(websocket) == (1000, '{"idle": 0.5}')
    await until(lambda: not alive(session), "the idle shell exiting")


def test_the_limits_come_from_the_environment():
    assert TerminalLimits.from_environ({}) == TerminalLimits(4, 1800.0)
    environ = {"RCODER_MAX_TERMINALS": "2", "RCODER_TERMINAL_IDLE_SECONDS": "60"}
    assert TerminalLimits.from_environ(environ) == TerminalLimits(2, 60.0)
    with pytest.raises(ValueError):
        TerminalLimits.from_environ({"RCODER_MAX_TERMINALS": "0"})
