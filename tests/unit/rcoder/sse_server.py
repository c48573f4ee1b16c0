"""A tiny HTTP server replaying a recorded turn as /agent/progress does: it honours Last-Event-ID,
answers 204 once everything was seen, and can break each connection after some events, mid-event, to
act out a dropped connection (chunked: the reader sees a broken body; close-delimited: an early end)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

RECORDING = Path(__file__).with_name("recorded_turn.sse")
SESSION = "3cb4d43b3ed349be820714eb94855c98"  # the recorded turn's


def recorded_events() -> list[tuple[int | None, str]]:
    """(id, text) of each block of the recording (comments have no id), in order."""
    blocks = [block + "\n\n" for block in RECORDING.read_text().split("\n\n") if block.strip()]
    return [(int(b.split("\n")[0][4:]) if b.startswith("id: ") else None, b) for b in blocks]


def reply_data(path: str, body: dict) -> dict:
    """What the gateway's route would answer (the recorded session for a chat; else the body back)."""
    if path.endswith("/chat"):
        return {"project_id": body["project_id"], "session_id": SESSION}
    if path.endswith("/cancel"):
        return {"success": True, "session_id": body.get("session_id") or "all"}
    return body


@dataclass
class ReplayServer:
    # Events each connection sends before it breaks, in order; later connections send everything.
    drops: list[int] = field(default_factory=list)
    chunked: bool = True
    # Events a reconnecting client gets again before the ones it asked for (a server sending twice).
    overlap: int = 0
    # What each GET asked for: its Last-Event-ID header (None when absent).
    asked: list[str | None] = field(default_factory=list)
    posted: list[tuple[str, dict]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            method, path, _ = head.split("\r\n")[0].split(" ")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
            }
            if method == "POST":
                body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
                self.posted.append((path, body))
                data = reply_data(path, body)
                reply = json.dumps(
                    {"code": "0000", "message": "success", "data": data, "tid": None, "success": True}
                )
                await self.respond(writer, "200 OK", "application/json", reply.encode())
            else:
                self.asked.append(headers.get("last-event-id"))
                self.paths.append(path)
                await self.replay(writer, headers.get("last-event-id"))
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()
                await writer.wait_closed()

    async def respond(self, writer: asyncio.StreamWriter, status: str, kind: str, body: bytes) -> None:
        writer.write(
            f"HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def replay(self, writer: asyncio.StreamWriter, last_event_id: str | None) -> None:
        recorded = recorded_events()
        after = int(last_event_id) if last_event_id else 0
        if after >= max(i for i, _ in recorded if i is not None):
            writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            return
        if after:
            after = max(after - self.overlap, 0)
        pending = [(i, text) for i, text in recorded if i is None or i > after]
        framing = "transfer-encoding: chunked" if self.chunked else "connection: close"
        writer.write(f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{framing}\r\n\r\n".encode())
        budget = self.drops.pop(0) if self.drops else None
        sent = 0
        for event_id, text in pending:
            if budget is not None and sent == budget:
                # Half of the next event, then the connection breaks.
                self.write(writer, text[: len(text) // 2])
                await writer.drain()
                writer.transport.abort()
                return
            self.write(writer, text)
            sent += event_id is not None
            await writer.drain()
        if self.chunked:
            writer.write(b"0\r\n\r\n")

    def write(self, writer: asyncio.StreamWriter, text: str) -> None:
        data = text.encode()
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if self.chunked else data)


@contextlib.asynccontextmanager
async def serving(server: ReplayServer) -> AsyncIterator[ReplayServer]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    async with listening:
        yield server
