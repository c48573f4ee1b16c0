"""One HTTP request as the files routes read it: its query parameters, headers and body (sized or
chunked, read as it arrives), and the trace id of its traceparent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from runner.files import beneath
from runner.files.errors import BadRequest, TooLarge

if TYPE_CHECKING:
    from runner.files.server import Handler

CHUNK = 1024 * 1024
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_id(traceparent: str | None) -> str:
    """The trace id of a W3C traceparent header, or "" without a valid one."""
    match = TRACEPARENT.fullmatch((traceparent or "").strip().lower())
    return match[1] if match and match[1] != "0" * 32 else ""


class Body:
    """A request's body as it arrives: `length` bytes, or chunked, and at most `limit` of them."""

    def __init__(self, rfile: BinaryIO, length: int | None, chunked: bool, limit: int = 0) -> None:
        self.rfile, self.left, self.chunked, self.limit = rfile, length or 0, chunked, limit
        self.received = 0
        self.done = not chunked and not length
        self._chunk_left = 0

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left for -1); b"" at the end."""
        parts, wanted = [], size if size >= 0 else None
        while not self.done and (wanted is None or wanted > 0):
            data = self._read_some(CHUNK if wanted is None else min(wanted, CHUNK))
            parts.append(data)
            if wanted is not None:
                wanted -= len(data)
        return b"".join(parts)

    def chunks(self) -> Iterator[bytes]:
        while not self.done:
            yield self._read_some(CHUNK)

    def drain(self, most: int) -> bool:
        """Read and drop up to `most` bytes of what is left; whether the whole body was read."""
        self.limit = 0
        while not self.done and most > 0:
            most -= len(self._read_some(min(most, CHUNK)))
        return self.done

    def _read_some(self, size: int) -> bytes:
        if self.chunked:
            if self._chunk_left == 0:
                self._chunk_left = self._next_chunk()
                if self._chunk_left == 0:
                    self.done = True
                    return b""
            data = self.rfile.read(min(size, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self.rfile.readline()  # the CRLF after a chunk's data
        else:
            data = self.rfile.read(min(size, self.left))
            self.left -= len(data)
            self.done = self.left == 0
        if not data and not self.done:
            raise BadRequest("the request body ended early")
        self.received += len(data)
        if self.limit and self.received > self.limit:
            raise TooLarge("the body is larger than {limit} bytes", limit=self.limit)
        return data

    def _next_chunk(self) -> int:
        line = self.rfile.readline(1024)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequest("the chunked body is malformed") from None
        if size == 0:
            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                pass
        return size


class Request:
    """What a route reads of one request: its query, headers and body."""

    def __init__(self, handler: Handler, query: dict[str, list[str]]) -> None:
        self.handler, self.query = handler, query
        self.headers = {key.lower(): value for key, value in handler.headers.items()}
        self.body: Body | None = None

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[-1]

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.param(name, "")
        if value in ("1", "true"):
            return True
        if value in ("0", "false"):
            return False
        if value:
            raise BadRequest("{name} must be true or false, got {value!r}", name=name, value=value)
        return default

    def number(self, name: str, default: int) -> int:
        value = self.param(name, "")
        if not value:
            return default
        if not value.isdigit():
            raise BadRequest("{name} must be a whole number, got {value!r}", name=name, value=value)
        return int(value)

    def path(self) -> str:
        return beneath.check_relative(self.param("path", ""))

    def open_body(self, limit: int = 0) -> Body:
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.length()
        if not chunked and limit and length is not None and length > limit:
            raise TooLarge("the body is larger than {limit} bytes", limit=limit)
        self.body = Body(self.handler.rfile, length, chunked, limit)
        return self.body

    def length(self) -> int | None:
        raw = self.headers.get("content-length")
        if raw is None or "chunked" in self.headers.get("transfer-encoding", "").lower():
            return None
        if not raw.strip().isdigit():
            raise BadRequest("Content-Length must be a whole number, got {value!r}", value=raw)
        return int(raw)
