"""JSON-RPC 2.0 over a pair of byte streams, one message per line: ACP's stdio transport, both sides.

Written here, on the standard library, because the ACP SDK's schema models cost 0.6-0.8 s of CPU to
import on every runner and agent start, and the runner only passes the agent's JSON on.

Notifications are handled in the order they arrive, before the next message is read, so an agent's
updates are all handled before its answer to the prompt they belong to. Requests from the other side
are handled concurrently (a permission request waits for a person).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
LINE_LIMIT = 50 * 1024 * 1024  # messages carry attachments; asyncio's 64 KiB default is too small

RequestHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
NotificationHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


class RpcError(Exception):
    """An error answer of JSON-RPC: raised by a handler to answer with it, or by `request` on receiving one."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class Connection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_request: RequestHandler,
        on_notification: NotificationHandler,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_notification = on_notification
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._closed: ConnectionError | None = None
        self._reading = asyncio.create_task(self._read(), name="jsonrpc-read")

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """The other side's result; RpcError for its error answer, ConnectionError if it goes away."""
        if self._closed is not None:
            raise self._closed
        message_id = next(self._ids)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = answer
        try:
            await self._send({"jsonrpc": "2.0", "id": message_id, "method": method, "params": params})
            return await answer
        finally:
            self._pending.pop(message_id, None)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def _send(self, message: dict[str, Any]) -> None:
        if self._closed is not None:
            raise self._closed
        self._writer.write(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ConnectionError(f"the other side stopped reading: {exc}") from exc

    async def _read(self) -> None:
        reason = "the other side closed the connection"
        try:
            while line := await self._reader.readline():
                await self._dispatch(line)
        except (ValueError, asyncio.LimitOverrunError) as exc:
            reason = f"a message was not valid JSON-RPC ({exc})"
        except ConnectionError as exc:
            reason = f"the connection broke ({exc})"
        self._close(ConnectionError(reason))

    async def _dispatch(self, line: bytes) -> None:
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"expected an object, got {type(message).__name__}")
        method, message_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if method is not None and message_id is not None:
            task = asyncio.create_task(self._answer(message_id, method, params), name=f"jsonrpc-{method}")
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
            # Let the handler begin before the next message is read: a notification sent after a
            # request (ACP's session/cancel after session/prompt) then never overtakes it.
            await asyncio.sleep(0)
        elif method is not None:
            try:
                await self._on_notification(method, params)
            except Exception:
                log.exception("handling the %s notification failed", method)
        elif (answer := self._pending.get(message_id)) is not None and not answer.done():
            if "error" in message:
                error = message["error"] or {}
                code = error.get("code", INTERNAL_ERROR)
                answer.set_exception(RpcError(code, error.get("message", ""), error.get("data")))
            else:
                answer.set_result(message.get("result"))

    async def _answer(self, message_id: Any, method: str, params: dict[str, Any]) -> None:
        try:
            reply = {"jsonrpc": "2.0", "id": message_id, "result": await self._on_request(method, params)}
        except RpcError as exc:
            reply = {"jsonrpc": "2.0", "id": message_id, "error": exc.to_json()}
        except Exception as exc:
            log.exception("answering %s failed", method)
            reply = {
                "jsonrpc": "2.0",
                "id": message_id,
                "error": {"code": INTERNAL_ERROR, "message": str(exc)},
            }
        with contextlib.suppress(ConnectionError):
            await self._send(reply)

    def _close(self, reason: ConnectionError) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(reason)

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def wait_closed(self) -> None:
        await asyncio.shield(self._reading)

    async def close(self) -> None:
        """Stop reading and answering; what is waiting for an answer fails with ConnectionError."""
        self._close(ConnectionError("the connection was closed"))
        for task in (self._reading, *self._handlers):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(self._reading, *self._handlers, return_exceptions=True)
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._writer.close()


async def stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """This process's stdin and stdout as asyncio streams (the agent side of a stdio transport)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
