"""The files HTTP API of a files container, on the standard library's ThreadingHTTPServer (HTTP/1.1,
keep-alive, chunked bodies): file I/O blocks anyway, and a thread per connection with sendfile is the
fastest simple path.

    GET    /?path=DIR[&limit=N&after=NAME]   the folder's entries (rcoder_wire.replies.FileList)
    GET    /raw?path=FILE[&download=1]       the file's bytes (one Range, ETag, If-None-Match, If-Range)
    HEAD   /raw?path=FILE                    the same headers, no bytes
    PUT    /raw?path=FILE[&parents=false]    the body becomes the file, whole or not at all
    DELETE /raw?path=PATH[&recursive=true]   a file, a link, an empty folder (or any, recursive)
    GET    /archive?path=DIR[&format=F]      the folder as tar, tar.gz (the default) or zip, chunked,
                                             with the X-Rcoder-Skipped trailer
    POST   /archive?path=DIR[&format=F]      the body (tar, tar.gz or zip; or by its Content-Type)
                                             extracted into the folder (rcoder_wire.replies.ExtractData)

Every reply but a file's bytes is the seed's envelope, its message in the request's accept-language
and its `tid` the trace id of its traceparent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rcoder_rpc.messages import language, translate
from runner.files import beneath, transfer
from runner.files.errors import (
    FilesError,
    MethodNotAllowed,
    NotFound,
    RangeNotSatisfiable,
    from_os_error,
)
from runner.files.request import Request, trace_id
from runner.files.routes import ROUTES, Route

log = logging.getLogger("rcoder.files")

GIB = 1024**3
# After a refusal, this much of the body is still read so that the client gets to read the reply;
# past it the connection is closed.
DRAIN_BYTES = 64 * 1024 * 1024


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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 600  # an idle keep-alive connection, or a stalled body, is dropped after this
    server: FilesServer

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Every method is served: one no route takes (TRACE, QUERY, ...) is answered 405 with Allow."""
        if name.startswith("do_"):
            return lambda: self._serve(name.removeprefix("do_"))
        raise AttributeError(name)

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
                if request.body is not None and not request.body.drain(DRAIN_BYTES):
                    self.close_connection = True  # what follows an archive's end, past what is read
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

    def send_file(self, fd: int, offset: int, length: int) -> int:
        """Up to `length` bytes of `fd` from `offset`, with sendfile (fewer if the file shrank)."""
        if not length:
            return 0
        with os.fdopen(os.dup(fd), "rb", buffering=0) as file:
            return self.connection.sendfile(file, offset, length)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class FilesServer(ThreadingHTTPServer):
    """The files API over the root `folder` of the volume mounted at `mount_fd`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], mount_fd: int, folder: str, limits: Limits) -> None:
        super().__init__(address, Handler)
        self.mount_fd, self.folder, self.limits = mount_fd, folder, limits
        self._lock = threading.Lock()
        self._in_flight = 0
        # When the last request ended (time.monotonic()): the runner leaves when idle long enough.
        self.last_active = time.monotonic()

    def open_root(self) -> int:
        """The root, opened again for each request (a folder swapped for a link is refused)."""
        return beneath.open_root(self.mount_fd, self.folder)

    def in_flight(self) -> int:
        """Requests being answered now (the runner's GetContainerStatus.active_tasks)."""
        return self._in_flight

    def idle_seconds(self) -> float:
        """How long no request has been answered (0 while one is)."""
        return 0.0 if self._in_flight else time.monotonic() - self.last_active

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self.last_active = time.monotonic()

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
