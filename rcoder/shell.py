"""A shell in a project's container: `TerminalSession` (`project.terminal()`), a WebSocket to
/agent/terminal/{project_id} (or /computer/terminal/{user_id}/{project_id}), and `run_shell`, which
hands this process's terminal to it (`rcoder shell`).

Binary frames carry the terminal's bytes both ways; a text frame from the client is a control message,
`{"type": "resize", "cols": C, "rows": R}`. When the shell exits, the appliance closes the socket with
1000 and the reason `{"exit": N}`. websockets is imported when a terminal opens: the other commands
never load it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from rcoder.errors import TerminalClosed, TransportError, error_for
from rcoder_wire.contract import project_route

if TYPE_CHECKING:
    from rcoder.project import Project

# Opening a terminal may start or resume the project's container.
OPEN_TIMEOUT = 120.0
READ_SIZE = 65536
# What the shell reads when this side's input ends: Ctrl-D, its end of input.
END_OF_INPUT = b"\x04"
Size = tuple[int, int]


class TerminalSession:
    """A shell in the project's container, in a terminal `cols` by `rows` (80 by 24 unless given).

    async with project.terminal(cols=120, rows=40) as shell:
        await shell.send("echo $((6*7)); exit\\n")
        async for output in shell:
            print(output.decode(), end="")
    print(shell.exit_status)
    """

    def __init__(self, project: Project, *, cols: int | None = None, rows: int | None = None) -> None:
        self.project = project
        self.route = project_route("terminal", project.id, project.user)
        self.size = (cols, rows) if cols and rows else None
        self.close_code: int | None = None
        self.close_reason = ""
        self._connection: Any = None

    def __repr__(self) -> str:
        return f"TerminalSession({self.project!r})"

    async def __aenter__(self) -> TerminalSession:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect: a shell starts in the project's folder (its container started if need be)."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

        url, headers = self.project.appliance.websocket_target(self.route)
        try:
            # Compression would cost each keystroke time for a few bytes saved.
            self._connection = await connect(
                url, additional_headers=headers, compression=None, open_timeout=OPEN_TIMEOUT
            )
        except InvalidStatus as exc:
            raise error_for(exc.response.status_code, exc.response.body or b"") from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise TransportError(f"the terminal at {url}: {exc or type(exc).__name__}") from exc
        if self.size:
            await self.resize(*self.size)

    async def send(self, data: bytes | str) -> None:
        """Type into the terminal (text as UTF-8)."""
        await self._send(data.encode() if isinstance(data, str) else data)

    async def resize(self, cols: int, rows: int) -> None:
        """Tell the shell its terminal's new size (it gets SIGWINCH)."""
        self.size = (cols, rows)
        await self._send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """What the terminal shows, as it comes, until the connection closes."""
        from websockets.exceptions import ConnectionClosed

        connection = self._connected()
        while True:
            try:
                message = await connection.recv()
            except ConnectionClosed as exc:
                self._closed(exc.rcvd)
                return
            yield message if isinstance(message, bytes) else message.encode()

    @property
    def exit_status(self) -> int | None:
        """The shell's exit status once it has exited; None while it runs, or if the terminal closed
        for another reason (`close_code`, `close_reason`)."""
        if self.close_code != 1000:
            return None
        try:
            status = json.loads(self.close_reason).get("exit")
        except (ValueError, AttributeError):
            return None
        return status if isinstance(status, int) else None

    async def wait(self) -> int:
        """Wait for the shell to exit (its output is dropped): its exit status."""
        async for _ in self:
            pass
        if self.exit_status is None:
            raise TerminalClosed(self.why_closed())
        return self.exit_status

    async def close(self) -> None:
        """Close the terminal: the appliance ends the shell and what it started."""
        if self._connection is not None:
            await self._connection.close()
            if self.close_code is None:
                self._closed(self._connection.protocol.close_rcvd)

    def why_closed(self) -> str:
        if self.close_code is None or self.close_code == 1006:
            return "the terminal's connection broke"
        reason = f": {self.close_reason}" if self.close_reason else ""
        return f"the terminal closed without the shell's exit status (code {self.close_code}{reason})"

    def _connected(self) -> Any:
        if self._connection is None:
            raise TerminalClosed("the terminal is not open: use `async with project.terminal()`")
        return self._connection

    def _closed(self, received: Any) -> None:
        """Note how the terminal closed, from the close frame received (None: the connection broke)."""
        if received is None:
            self.close_code, self.close_reason = 1006, ""
        else:
            self.close_code, self.close_reason = received.code, received.reason

    async def _send(self, message: bytes | str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._connected().send(message)
        except ConnectionClosed as exc:
            raise TerminalClosed("the terminal has closed") from exc


def terminal_size(*fds: int) -> Size | None:
    """(columns, rows) of the first of `fds` that is a terminal."""
    for fd in fds:
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(fd)
            return size.columns, size.lines
    return None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def run_shell(project: Project, *, stdin: int = 0, stdout: int = 1) -> int:
    """A shell in the project's container on this process's terminal: raw mode while it runs (every
    key goes to the shell, Ctrl-C included), the size followed on SIGWINCH, stdin to the shell and its
    output to stdout. Returns the shell's exit status (128 + N for a shell killed by signal N); a
    terminal that closes without one raises TerminalClosed. Input that is not a terminal ends with
    Ctrl-D, so `echo ls | rcoder shell` runs `ls` and leaves."""
    # Unix only, so imported here: the rest of the client imports anywhere.
    import termios
    import tty

    loop = asyncio.get_running_loop()
    size = terminal_size(stdin, stdout)
    cols, rows = size or (None, None)
    outgoing: asyncio.Queue[bytes | Size] = asyncio.Queue()
    async with project.terminal(cols=cols, rows=rows) as session:
        saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
        stop_reading = None
        sender = asyncio.create_task(send_all(session, outgoing))
        try:
            if saved is not None:
                tty.setraw(stdin)
            if size is not None:
                loop.add_signal_handler(signal.SIGWINCH, resized, outgoing, stdin, stdout)
            stop_reading = read_input(loop, stdin, outgoing)
            async for output in session:
                write_all(stdout, output)
        finally:
            if stop_reading is not None:
                stop_reading()
            if size is not None:
                loop.remove_signal_handler(signal.SIGWINCH)
            if saved is not None:
                termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
    status = session.exit_status
    if status is None:
        raise TerminalClosed(session.why_closed())
    return status if status >= 0 else 128 - status


def resized(outgoing: asyncio.Queue[bytes | Size], *fds: int) -> None:
    if size := terminal_size(*fds):
        outgoing.put_nowait(size)


def read_input(
    loop: asyncio.AbstractEventLoop, stdin: int, outgoing: asyncio.Queue[bytes | Size]
) -> Callable[[], object]:
    """Queue what is typed (or piped) as it comes, read when the loop sees it ready (or, from a regular
    file, which the loop cannot watch, by a task); its end queues Ctrl-D. Returns what stops it."""

    def ready() -> None:
        data = os.read(stdin, READ_SIZE)
        if not data:
            loop.remove_reader(stdin)
        outgoing.put_nowait(data or END_OF_INPUT)

    async def read_file() -> None:
        while data := await asyncio.to_thread(os.read, stdin, READ_SIZE):
            outgoing.put_nowait(data)
        outgoing.put_nowait(END_OF_INPUT)

    if stat.S_ISREG(os.fstat(stdin).st_mode):
        return asyncio.create_task(read_file()).cancel
    loop.add_reader(stdin, ready)
    return lambda: loop.remove_reader(stdin)


async def send_all(session: TerminalSession, outgoing: asyncio.Queue[bytes | Size]) -> None:
    """Send the queue, in order (keys and sizes), until the terminal closes."""
    with contextlib.suppress(TerminalClosed):
        while True:
            item = await outgoing.get()
            if isinstance(item, bytes):
                await session.send(item)
            else:
                await session.resize(*item)
