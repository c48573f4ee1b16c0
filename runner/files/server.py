"""The files HTTP API of a files container, on the standard library's ThreadingHTTPServer (HTTP/1.1,
keep-alive, chunked bodies): file I/O blocks anyway, and a thread per connection with sendfile is the
fastest simple path.

    GET    /?path=DIR[&limit=N&after=NAME]   the folder's entries (rcoder_wire.replies.FileList)
    GET    /raw?path=FILE[&download=1]       the file's bytes (one Range, ETag, If-None-Match, If-Range)
    HEAD   /raw?path=FILE                    the same headers, no bytes
    PUT    /raw?path=FILE[&parents=false]    the body becomes the file, whole or not at all
    DELETE /raw?path=PATH[&recursive=true]   a file, a link, an empty folder (or any, recursive)

Every reply but a file's bytes is the seed's envelope, its message in the request's accept-language
and its `tid` the trace id of its traceparent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from rcoder_rpc.messages import language, translate
from runner.files import beneath, listing, transfer
from runner.files.errors import (
    BadRequest,
    FilesError,
    MethodNotAllowed,
    NotFound,
    RangeNotSatisfiable,
    TooLarge,
    from_os_error,
)

log = logging.getLogger("rcoder.files")

GIB = 1024**3
CHUNK = 1024 * 1024
# After a refusal, this much of the body is still read so that the client gets to read the reply;
# past it the connection is closed.
DRAIN_BYTES = 64 * 1024 * 1024
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 4 * GIB  # a PUT's body; 0: only the free space
    max_extract_bytes: int = 4 * GIB  # what one archive's extraction writes
    max_extract_entries: int = 100_000
    gzip_level: int = 1


def limits_from(environ: Mapping[str, str]) -> Limits:
    """Limits from RCODER_FILES_MAX_UPLOAD_BYTES, _MAX_EXTRACT_BYTES, _MAX_EXTRACT_ENTRIES and
    _GZIP_LEVEL (the defaults where unset)."""
    defaults = Limits()
    values = {}
    for name in ("max_upload_bytes", "max_extract_bytes", "max_extract_entries", "gzip_level"):
        raw = environ.get(f"RCODER_FILES_{name.upper()}", "").strip()
        values[name] = int(raw) if raw else getattr(defaults, name)
    if not 0 <= values["gzip_level"] <= 9:
        raise ValueError(f"RCODER_FILES_GZIP_LEVEL must be from 0 to 9, got {values['gzip_level']}")
    return Limits(**values)


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
        value = self.param(name, "").lower()
        if value in ("1", "true", "yes"):
            return True
        if value in ("0", "false", "no"):
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


Route = Callable[["Handler", Request, int], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 600  # an idle keep-alive connection, or a stalled body, is dropped after this
    server: FilesServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        self.lang = language(self.headers.get("accept-language"))
        self.tid = trace_id(self.headers.get("traceparent"))
        self.replied = False
        url = urlsplit(self.path)
        request = Request(self, parse_qs(url.query, keep_blank_values=True))
        with self.server.counting():
            try:
                route = self._route(method, url.path)
                root_fd = self.server.open_root()
                try:
                    route(self, request, root_fd)
                finally:
                    os.close(root_fd)
            except FilesError as exc:
                self._refuse(request, exc)
            except (TimeoutError, ConnectionError):  # the client went quiet, or away: no one to answer
                self.close_connection = True
            except OSError as exc:
                self._refuse(request, from_os_error(exc, request.param("path", "/"), self.server.mount_fd))
            except Exception as exc:
                log.exception("%s %s failed", method, self.path)
                self._refuse(
                    request,
                    FilesError("internal error: {kind}; see the files server's log", kind=type(exc).__name__),
                )

    def _route(self, method: str, path: str) -> Route:
        methods = ROUTES.get(path)
        if methods is None:
            raise NotFound("no route {path}", path=path)
        if method not in methods:
            raise MethodNotAllowed("method {method} is not allowed on {path}", method=method, path=path)
        return methods[method]

    def _refuse(self, request: Request, error: FilesError) -> None:
        if error.status >= 500 and error.status != 507:
            log.error("%s %s: %s", self.command, self.path, error)
        if self.replied:  # the reply's bytes had begun: the client sees a cut-off body
            self.close_connection = True
            return
        headers = {}
        if isinstance(error, RangeNotSatisfiable):
            headers["Content-Range"] = f"bytes */{error.size}"
        if isinstance(error, MethodNotAllowed):
            headers["Allow"] = ", ".join(ROUTES[urlsplit(self.path).path])
        if not self._drain(request):
            self.close_connection = True
            headers["Connection"] = "close"
        self.send_envelope(
            error.status, None, code=error.code, message=error.localized(self.lang), headers=headers
        )

    def _drain(self, request: Request) -> bool:
        """Read what is left of a refused request's body (DRAIN_BYTES at most), so that the client,
        still sending, gets to read the refusal; whether the connection can carry another request."""
        try:
            body = request.body or (request.open_body() if self.command in ("PUT", "POST") else None)
            return body is None or body.drain(DRAIN_BYTES)
        except (FilesError, OSError):
            return False

    def send_envelope(
        self,
        status: int,
        data: Any,
        code: str = "0000",
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The seed's envelope: `data` on success, an error's code and message otherwise."""
        envelope = {
            "code": code,
            "message": message if message is not None else translate("success", self.lang),
            "data": data,
            "tid": self.tid,
            "success": status < 400,
        }
        encoded = json.dumps(envelope).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in {**transfer.INERT_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.replied = True
        if self.command != "HEAD":
            self.wfile.write(encoded)

    def send_head(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.replied = True

    def send_file(self, fd: int, offset: int, length: int) -> None:
        """`length` bytes of `fd` from `offset`, with sendfile."""
        with os.fdopen(os.dup(fd), "rb", buffering=0) as file:
            sent = self.connection.sendfile(file, offset, length) if length else 0
        if sent < length:  # the file shrank while it was sent: the promised length cannot be kept
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def list_route(handler: Handler, request: Request, root_fd: int) -> None:
    limit = request.number("limit", listing.DEFAULT_LIMIT)
    found = listing.list_folder(root_fd, request.path(), limit, request.param("after"))
    handler.send_envelope(200, found)


def raw_get(handler: Handler, request: Request, root_fd: int) -> None:
    path = request.path()
    reply = transfer.read(root_fd, path, request.headers, download=request.flag("download"))
    try:
        if reply.status == 304:
            reply.headers.pop("Content-Type", None)
        handler.send_head(reply.status, reply.headers)
        if reply.fd is not None and handler.command == "GET":
            handler.send_file(reply.fd, reply.offset, reply.length)
    finally:
        if reply.fd is not None:
            os.close(reply.fd)


def raw_put(handler: Handler, request: Request, root_fd: int) -> None:
    path = request.path()
    parents = request.flag("parents", default=True)
    body = request.open_body(handler.server.limits.max_upload_bytes)
    written = transfer.write(root_fd, path, body.chunks(), request.length(), parents)
    handler.send_envelope(200, written)


def raw_delete(handler: Handler, request: Request, root_fd: int) -> None:
    transfer.delete(root_fd, request.path(), recursive=request.flag("recursive"))
    handler.send_envelope(200, None)


ROUTES: dict[str, dict[str, Route]] = {
    "/": {"GET": list_route},
    "/raw": {"GET": raw_get, "HEAD": raw_get, "PUT": raw_put, "DELETE": raw_delete},
}


class FilesServer(ThreadingHTTPServer):
    """The files API over the root `folder` of the volume mounted at `mount_fd`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], mount_fd: int, folder: str, limits: Limits) -> None:
        super().__init__(address, Handler)
        self.mount_fd, self.folder, self.limits = mount_fd, folder, limits
        self._lock = threading.Lock()
        self._in_flight = 0

    def open_root(self) -> int:
        """The root, opened again for each request (a folder swapped for a link is refused)."""
        return beneath.open_root(self.mount_fd, self.folder)

    def in_flight(self) -> int:
        """Requests being answered now (the runner's GetContainerStatus.active_tasks)."""
        return self._in_flight

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def server_close(self) -> None:
        super().server_close()
        os.close(self.mount_fd)


def create_server(
    address: tuple[str, int], root: str, folder: str = "", limits: Limits | None = None
) -> tuple[FilesServer, int]:
    """A files server on `address` (port 0 picks a free one) over `root`/`folder`, not yet serving
    (call serve_forever, in a thread of its own), and its port."""
    mount_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        server = FilesServer(address, mount_fd, beneath.check_relative(folder), limits or Limits())
    except BaseException:
        os.close(mount_fd)
        raise
    return server, server.server_address[1]
