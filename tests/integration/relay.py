"""A TCP relay in front of the appliance that can break a connection: the first `breaks` streams of
a session's events are cut after `after_bytes` of their answer, as a flaky network would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx


@dataclass
class Relay:
    upstream: str  # http://host:port
    breaks: int = 1
    after_bytes: int = 4000
    broken: int = 0
    url: str = ""
    _tasks: set[asyncio.Task] = field(default_factory=set)

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """One connection (the client sends one request per connection: see `transport`)."""
        self._tasks.add(asyncio.current_task())
        target = urlsplit(self.upstream)
        upstream_reader, upstream_writer = await asyncio.open_connection(target.hostname, target.port)
        head = await client_reader.readuntil(b"\r\n\r\n")
        streaming = b"/progress/" in head.split(b"\r\n")[0]
        cut = streaming and self.broken < self.breaks
        if cut:
            self.broken += 1
        upstream_writer.write(head)
        up = asyncio.create_task(pipe(client_reader, upstream_writer, None))
        down = asyncio.create_task(pipe(upstream_reader, client_writer, self.after_bytes if cut else None))
        self._tasks |= {up, down}
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_writer, upstream_writer):
            writer.transport.abort()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Relay]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            yield self
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    def transport() -> httpx.AsyncHTTPTransport:
        """A client transport with a connection per request, so that the relay sees each request first."""
        return httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None) -> None:
    """Copy until the end, or until `limit` bytes have passed (then return: the caller cuts both)."""
    passed = 0
    while chunk := await reader.read(65536 if limit is None else min(65536, limit - passed)):
        writer.write(chunk)
        await writer.drain()
        passed += len(chunk)
        if limit is not None and passed >= limit:
            return
