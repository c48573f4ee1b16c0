"""The project's terminal: a login shell on a PTY, over a WebSocket on TERMINAL_PORT (50053).

The gateway computes the request, `GET /terminal?project=<id>&folder=<folder>` (an upgrade); the shell
starts in the workspace, or in `<workspace>/<folder>` (a folder of ids, which must exist), or in
`<workspace>/<project>` where each project has a folder of its own (`--per-project-dirs`). A request
refused before the upgrade gets the seed's envelope as JSON: 400 VALIDATION_ERROR (a bad project or
folder), 404 NOT_FOUND (another path), 429 TOO_MANY_REQUESTS (the project has `max_per_project`
terminals open).

On the socket:
- binary frames carry the terminal's bytes, both ways;
- a text frame is a control message: `{"type": "resize", "cols": C, "rows": R}` (1 to 1000 each) sets
  the window size (the shell's foreground job gets SIGWINCH); any other text closes with 1003;
- the server closes with 1000 and a JSON reason: `{"exit": N}` when the shell exited with status N,
  `{"signal": N}` when a signal ended it, `{"idle": S}` after S seconds without a byte either way;
  with 1011 when the shell could not start, and 1001 when the runner shuts down.
The shell is `$SHELL -l` (or `/bin/bash -l`, or `/bin/sh -l` in an image without bash), with TERM=xterm-256color and an 80x24 window until the
first resize.

A terminal leaves nothing behind: when it ends, its shell's process group gets SIGHUP, and once the
shell is gone (or after KILL_GRACE) every process still in the shell's session gets SIGKILL, found by
a scan of /proc; that catches `nohup cmd &` and jobs bash would not hang up. A process that made a
session of its own (`setsid cmd`) has left the terminal's session and is not caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import pty
import re
import signal
import struct
import sys
import termios
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from rcoder_rpc.messages import language, translate
from rcoder_wire.contract import ID

log = logging.getLogger(__name__)

PROJECT_ID = re.compile(ID)
PATH = "/terminal"
KILL_GRACE = 2.0  # seconds a hung-up shell has to exit before its session is killed
MAX_SIZE = 1000  # columns or rows
DEFAULT_SIZE = (80, 24)  # columns, rows, until the client says otherwise
CHUNK = 65536
OUTPUT_QUEUE = 64  # chunks read ahead of a slow socket before the reading pauses
DRAIN_LIMIT = 1 << 20  # bytes sent after the shell exited (a leftover job may keep writing)
DRAIN_SECONDS = 5.0
# Runs as the child between start_new_session and the shell: makes the PTY the session's controlling
# terminal (job control needs one). subprocess cannot, and forking the threaded runner is unsafe.
TAKE_TERMINAL = (
    "import fcntl,os,sys,termios;fcntl.ioctl(0,termios.TIOCSCTTY,0);os.execvp(sys.argv[1],sys.argv[1:])"
)


@dataclass(frozen=True)
class TerminalLimits:
    max_per_project: int = 4  # open terminals of one project; one more is refused with 429
    idle_seconds: float = 1800.0  # without a byte either way, a terminal is closed

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TerminalLimits:
        """From RCODER_MAX_TERMINALS and RCODER_TERMINAL_IDLE_SECONDS, each defaulted when unset."""
        names = "RCODER_MAX_TERMINALS and RCODER_TERMINAL_IDLE_SECONDS"
        try:
            limits = cls(
                int(environ.get("RCODER_MAX_TERMINALS") or cls.max_per_project),
                float(environ.get("RCODER_TERMINAL_IDLE_SECONDS") or cls.idle_seconds),
            )
        except ValueError as exc:
            raise ValueError(f"{names} must be numbers: {exc}") from None
        if limits.max_per_project < 1 or not limits.idle_seconds > 0:
            raise ValueError(f"{names} must be positive: {limits}")
        return limits


def login_shell() -> str:
    """bash, or the image's sh where it has no bash (a template's may not)."""
    return "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"


class Shell:
    """A login shell on a PTY: the leader of a session of its own, as the runner's user."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self.master = master
        self._loop = asyncio.get_running_loop()
        self._output: asyncio.Queue[bytes] = asyncio.Queue()
        self._reading = False
        self._closed = False

    @classmethod
    async def start(cls, cwd: Path) -> Shell:
        master, slave = pty.openpty()
        try:
            os.set_blocking(master, False)
            set_size(master, *DEFAULT_SIZE)
            env = {**os.environ, "TERM": "xterm-256color"}
            login = env.get("SHELL") or login_shell()
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-I", "-S", "-c", TAKE_TERMINAL, login, "-l"),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # ours: the master reads EIO once the shell's copies are closed too
        shell = cls(process, master)
        shell._resume()
        return shell

    def _resume(self) -> None:
        if not self._reading and not self._closed:
            self._loop.add_reader(self.master, self._on_readable)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.master)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: no process has the terminal open any more
            data = b""
        if not data:
            self._pause()
            return
        self._output.put_nowait(data)
        if self._output.qsize() >= OUTPUT_QUEUE:
            self._pause()  # the socket is slower than the shell: let the PTY's buffer fill up

    async def read(self) -> bytes:
        """The shell's next output: whatever is waiting, in one piece."""
        chunks = [await self._output.get()]
        while not self._output.empty():
            chunks.append(self._output.get_nowait())
        self._resume()
        return b"".join(chunks)

    def drain(self) -> bytes:
        """The output not yet read, once the shell has exited (up to DRAIN_LIMIT)."""
        self._pause()
        chunks = []
        while not self._output.empty():
            chunks.append(self._output.get_nowait())
        size = sum(map(len, chunks))
        while size < DRAIN_LIMIT:
            try:
                data = os.read(self.master, CHUNK)
            except OSError:  # BlockingIOError: nothing more; EIO: nobody has the terminal open
                break
            if not data:
                break
            chunks.append(data)
            size += len(data)
        return b"".join(chunks)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:  # the shell is not reading: wait for room in the PTY
                writable = self._loop.create_future()
                self._loop.add_writer(self.master, writable.set_result, None)
                try:
                    await writable
                finally:
                    self._loop.remove_writer(self.master)
            except OSError:  # the shell has exited: its input goes nowhere
                return

    def resize(self, cols: int, rows: int) -> None:
        set_size(self.master, cols, rows)

    async def wait(self) -> int:
        return await self.process.wait()

    async def end(self) -> None:
        """Hang up, give the shell KILL_GRACE to exit, then kill whatever is left of its session."""
        if self._closed:
            return
        self._pause()
        self._closed = True
        session = self.process.pid  # the shell leads its session: the session id is its pid
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session, signal.SIGHUP)
        os.close(self.master)  # the kernel hangs up the terminal too
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), KILL_GRACE)
        finally:  # even when cancelled: the session must not outlive its terminal
            kill_session(session)
        await self.process.wait()


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def session_members(session: int) -> list[int]:
    """The live processes of a session (a scan of /proc/*/stat; zombies left out)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it exited during the scan
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        fields = text.rpartition(")")[2].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(stat.parent.name))
    return members


def kill_session(session: int, rounds: int = 10) -> None:
    """SIGKILL every process of the session, and those forked while the scan ran."""
    killed: set[int] = set()
    for _ in range(rounds):
        fresh = [pid for pid in session_members(session) if pid not in killed]
        if not fresh:
            return
        for pid in fresh:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.update(fresh)
    log.warning("terminal session %s still forked after %s rounds of SIGKILL", session, rounds)


class BadControl(Exception):
    """A text frame that is not a control message: the socket closes with 1003."""


def control(text: str) -> tuple[int, int]:
    """The (cols, rows) of a resize message."""
    try:
        message = json.loads(text)
    except ValueError:
        raise BadControl("a text frame must be a JSON control message") from None
    if not isinstance(message, dict) or message.get("type") != "resize":
        raise BadControl('the only control message is {"type": "resize", "cols": C, "rows": R}')
    size = message.get("cols"), message.get("rows")
    if not all(type(n) is int and 1 <= n <= MAX_SIZE for n in size):
        raise BadControl(f"cols and rows must be whole numbers from 1 to {MAX_SIZE}")
    return size


@dataclass(frozen=True)
class Target:
    project: str
    cwd: Path


class Refused(Exception):
    """A request answered before the upgrade, with the seed's envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def envelope(self) -> str:
        """The seed's error body, as the gateway's (no trace id: the runner has none to give)."""
        return json.dumps(
            {"code": self.code, "message": self.message, "data": None, "tid": "", "success": False}
        )


class Terminals:
    """The WebSocket server, and the terminals open on it."""

    def __init__(self, workspace: Path, per_project_dirs: bool, limits: TerminalLimits) -> None:
        self.workspace = workspace
        self.per_project_dirs = per_project_dirs
        self.limits = limits
        self.server: Server | None = None
        # Every connection the limit counts, from its request on (its handler removes it).
        self._claims: dict[ServerConnection, Target] = {}
        self._shells: set[Shell] = set()

    @property
    def active(self) -> int:
        """Open terminals: they count in the runner's active tasks, so no cleanup stops a live shell."""
        return len(self._shells)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    def target(self, path: str, lang: str) -> Target:
        url = urlsplit(path)
        if url.path != PATH:
            raise Refused(404, "NOT_FOUND", translate("no route {path}", lang, path=url.path))
        query = parse_qs(url.query)
        project, folder = query.get("project", [""])[0], query.get("folder", [""])[0]
        if not PROJECT_ID.fullmatch(project):
            message = translate("project must be 1-64 letters, digits, '_', '.' or '-'", lang)
            raise Refused(400, "VALIDATION_ERROR", message)
        if folder and not all(PROJECT_ID.fullmatch(part) for part in folder.split("/")):
            message = translate("folder must be a relative folder of ids separated by '/'", lang)
            raise Refused(400, "VALIDATION_ERROR", message)
        if folder:
            cwd = self.workspace / folder
            if not cwd.is_dir():
                message = translate("folder {folder!r} is not a folder of the workspace", lang, folder=folder)
                raise Refused(400, "VALIDATION_ERROR", message)
        elif self.per_project_dirs:
            cwd = self.workspace / project
            cwd.mkdir(parents=True, exist_ok=True)  # the project's own, made by its first chat or this
        else:
            cwd = self.workspace
        return Target(project, cwd)

    def _open(self, project: str) -> int:
        """Terminals of the project, counted from their request on (dropped connections left out)."""
        for connection in [c for c in self._claims if c.state is State.CLOSED]:
            del self._claims[connection]  # never upgraded, so no handler ran to remove it
        return sum(1 for target in self._claims.values() if target.project == project)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        lang = language(request.headers.get("accept-language"))
        try:
            target = self.target(request.path, lang)
            if self._open(target.project) >= self.limits.max_per_project:
                message = translate(
                    "project {project!r} has {limit} terminals open, as many as it may; close one first",
                    lang,
                    project=target.project,
                    limit=self.limits.max_per_project,
                )
                raise Refused(429, "TOO_MANY_REQUESTS", message)
        except Refused as refused:
            response = connection.respond(refused.status, refused.envelope())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        self._claims[connection] = target
        return None

    async def handle(self, websocket: ServerConnection) -> None:
        target = self._claims.get(websocket)
        if target is None:
            return
        try:
            try:
                shell = await Shell.start(target.cwd)
            except OSError as exc:
                log.warning("project %s: the terminal's shell did not start: %s", target.project, exc)
                await websocket.close(1011, "the shell did not start")
                return
            self._shells.add(shell)
            try:
                await Terminal(websocket, shell, self.limits.idle_seconds).run()
            finally:
                await shell.end()
                self._shells.discard(shell)
        finally:
            self._claims.pop(websocket, None)

    async def close(self) -> None:
        """Close the server: its sockets close with 1001 and every terminal ends."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class Terminal:
    """One socket attached to one shell, until either ends or the terminal is idle too long."""

    def __init__(self, websocket: ServerConnection, shell: Shell, idle_seconds: float) -> None:
        self.websocket = websocket
        self.shell = shell
        self.idle_seconds = idle_seconds
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()

    async def run(self) -> None:
        tasks = {
            name: asyncio.create_task(work, name=f"terminal-{name}")
            for name, work in {
                "output": self._output(),
                "input": self._input(),
                "exited": self.shell.wait(),
                "idle": self._idle(),
            }.items()
        }
        try:
            done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and not isinstance(error := task.exception(), BadControl | None):
                    log.error("a terminal's %s failed", task.get_name(), exc_info=error)
            if tasks["exited"].done():
                tasks["output"].cancel()
                await asyncio.gather(tasks["output"], return_exceptions=True)
                status = tasks["exited"].result()
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    async with asyncio.timeout(DRAIN_SECONDS):
                        if rest := self.shell.drain():
                            await self.websocket.send(rest)
                reason = {"exit": status} if status >= 0 else {"signal": -status}
                await self.websocket.close(1000, json.dumps(reason))
            elif tasks["input"].done() and isinstance(error := tasks["input"].exception(), BadControl):
                await self.websocket.close(1003, str(error))
            elif tasks["idle"].done():
                await self.websocket.close(1000, json.dumps({"idle": self.idle_seconds}))
            # Otherwise the client closed the socket (or it broke): the shell ends all the same.
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _output(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                data = await self.shell.read()
                self._last = self._loop.time()
                await self.websocket.send(data)

    async def _input(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.websocket:
                self._last = self._loop.time()
                if isinstance(message, str):
                    self.shell.resize(*control(message))
                else:
                    await self.shell.write(message)

    async def _idle(self) -> None:
        """Returns once no byte went either way for idle_seconds."""
        # A deadline that activity moves on, not a poll: it wakes once per idle_seconds at most.
        while (left := self._last + self.idle_seconds - self._loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)


async def serve_terminals(
    host: str, port: int, workspace: Path, per_project_dirs: bool, limits: TerminalLimits
) -> Terminals:
    """A started terminal server on `host:port`: the runner's is TERMINAL_PORT; port 0 picks a free one
    (see `Terminals.port`)."""
    terminals = Terminals(workspace, per_project_dirs, limits)
    terminals.server = await serve(
        terminals.handle,
        host,
        port,
        process_request=terminals.process_request,
        compression=None,  # keystrokes and screen updates: small frames, where latency matters
    )
    return terminals
