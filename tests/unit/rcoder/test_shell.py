"""rcoder/shell.py against a stand-in terminal server (websockets, loopback): keys out as binary
frames, a resize as a JSON text frame, the exit status from the close reason, and `run_shell` on a
real pseudo-terminal: raw mode while it runs and restored after, SIGWINCH sent on as a resize."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import signal
import struct
import termios
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from rcoder import Appliance, errors
from rcoder.shell import run_shell


@dataclass
class TerminalServer:
    """Echoes what it gets; `exit N` (or Ctrl-D, as 0) ends the shell with that status."""

    url: str = ""
    paths: list[str] = field(default_factory=list)
    controls: list[dict] = field(default_factory=list)
    typed: list[bytes] = field(default_factory=list)
    # What to run when a key arrives (e.g. to look at the client's terminal meanwhile).
    on_key: list = field(default_factory=list)
    refuse: int | None = None
    resized: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if request.headers.get("x-api-key") != "key":
            return self.envelope(401, "4010", "a wrong API key")
        if self.refuse:
            return self.envelope(self.refuse, "TOO_MANY_REQUESTS", "4 terminals are open: close one")
        return None

    def envelope(self, status: int, code: str, message: str) -> Response:
        body = json.dumps({"code": code, "message": message, "data": None, "tid": None, "success": False})
        headers = Headers([("content-type", "application/json")])
        return Response(status, HTTPStatus(status).phrase, headers, body.encode())

    async def handle(self, connection: ServerConnection) -> None:
        await connection.send(b"$ ")
        async for message in connection:
            if isinstance(message, str):
                self.controls.append(json.loads(message))
                self.resized.set()
                continue
            self.typed.append(message)
            for look in self.on_key:
                look()
            if message == b"\x04" or message.startswith(b"exit"):
                status = int(message.split()[1]) if message.startswith(b"exit") else 0
                await connection.close(1000, json.dumps({"exit": status}))
                return
            if message == b"hang up":
                await connection.close(1001, "idle for 1800 s")
                return
            await connection.send(message)


@pytest.fixture
async def server() -> AsyncIterator[TerminalServer]:
    terminal = TerminalServer()
    async with serve(terminal.handle, "127.0.0.1", 0, process_request=terminal.check) as running:
        terminal.url = f"http://127.0.0.1:{running.sockets[0].getsockname()[1]}"
        yield terminal


async def test_keys_go_out_output_comes_back_and_the_exit_status_is_read(server):
    async with Appliance(server.url, "key") as appliance, appliance.project("p1").terminal() as shell:
        await shell.send("echo hi\r")
        await shell.resize(100, 30)
        await shell.send(b"exit 3\r")
        output = b"".join([chunk async for chunk in shell])

    assert output == b"$ echo hi\r" and shell.exit_status == 3
    assert server.paths == ["/agent/terminal/p1"]
    assert server.controls == [{"type": "resize", "cols": 100, "rows": 30}]
    assert server.typed == [b"echo hi\r", b"exit 3\r"]


async def test_the_size_asked_for_is_sent_first_and_a_desktop_project_has_its_route(server):
    async with (
        Appliance(server.url, "key") as appliance,
        appliance.project("p1", user="u1").terminal(cols=90, rows=30) as shell,
    ):
        await shell.send(b"\x04")
        assert await shell.wait() == 0

    assert server.paths == ["/computer/terminal/u1/p1"]
    assert server.controls == [{"type": "resize", "cols": 90, "rows": 30}]


async def test_a_close_without_an_exit_status_says_why(server):
    async with Appliance(server.url, "key") as appliance, appliance.project("p1").terminal() as shell:
        await shell.send(b"hang up")
        with pytest.raises(errors.TerminalClosed, match=r"code 1001: idle for 1800 s"):
            await shell.wait()
        assert shell.exit_status is None
        with pytest.raises(errors.TerminalClosed, match="has closed"):
            await shell.send(b"ls\r")


async def test_refusals_before_the_upgrade_are_typed_errors(server):
    async with Appliance(server.url, "wrong") as appliance:
        with pytest.raises(errors.Unauthorized, match="a wrong API key"):
            await appliance.project("p1").terminal().open()
    server.refuse = 429
    async with Appliance(server.url, "key") as appliance:
        with pytest.raises(errors.TooManyRequests, match="4 terminals are open"):
            await appliance.project("p1").terminal().open()
    async with Appliance("http://127.0.0.1:9", "key") as appliance:
        with pytest.raises(
            errors.TransportError, match=r"the terminal at ws://127\.0\.0\.1:9/agent/terminal/p1"
        ):
            await appliance.project("p1").terminal().open()


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


async def test_run_shell_puts_the_terminal_in_raw_mode_follows_its_size_and_restores_it(server):
    keyboard, terminal = pty.openpty()
    set_size(terminal, 100, 40)
    before = termios.tcgetattr(terminal)
    out_read, out_write = os.pipe()
    modes = []
    server.on_key.append(lambda: modes.append(termios.tcgetattr(terminal)[3]))

    async with Appliance(server.url, "key") as appliance:
        shell = asyncio.create_task(run_shell(appliance.project("p1"), stdin=terminal, stdout=out_write))
        await asyncio.wait_for(server.resized.wait(), 10)
        server.resized.clear()
        set_size(terminal, 90, 30)
        os.kill(os.getpid(), signal.SIGWINCH)
        await asyncio.wait_for(server.resized.wait(), 10)
        os.write(keyboard, b"exit 7")
        status = await asyncio.wait_for(shell, 10)

    assert status == 7
    assert server.controls == [{"type": "resize", "cols": c, "rows": r} for c, r in ((100, 40), (90, 30))]
    assert modes and not modes[0] & (termios.ICANON | termios.ECHO | termios.ISIG), "raw while it runs"
    assert termios.tcgetattr(terminal) == before, "the terminal's modes are back"
    assert os.read(out_read, 100) == b"$ "
    for fd in (keyboard, terminal, out_read, out_write):
        os.close(fd)


async def test_run_shell_with_piped_input_ends_it_with_ctrl_d(server):
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    os.write(in_write, b"echo hi\n")
    os.close(in_write)

    async with Appliance(server.url, "key") as appliance:
        status = await run_shell(appliance.project("p1"), stdin=in_read, stdout=out_write)

    assert status == 0 and server.typed == [b"echo hi\n", b"\x04"] and server.controls == []
    assert os.read(out_read, 100) == b"$ echo hi\n"
    for fd in (in_read, out_read, out_write):
        os.close(fd)
