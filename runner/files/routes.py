"""The files API's routes: each reads its request, calls listing, transfer or archives beneath the
root, and answers through the handler (the seed's envelope, or the bytes)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from runner.files import archives, listing, review, transfer
from runner.files.errors import BadRequest
from runner.files.extraction import Extraction
from runner.files.request import CHUNK, Request

if TYPE_CHECKING:
    from runner.files.server import Handler

log = logging.getLogger("rcoder.files")

SKIPPED_TRAILER = "X-Rcoder-Skipped"  # devices, FIFOs and sockets left out of an archive
ZIP_TYPES = ("application/zip", "application/x-zip-compressed")
TAR_TYPES = ("application/x-tar", "application/gzip", "application/x-gzip", "application/x-compressed-tar")

Route = Callable[["Handler", Request, int], None]


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
        sending = reply.fd is not None and handler.command == "GET"
        if sending and handler.send_file(reply.fd, reply.offset, reply.length) < reply.length:
            handler.close_connection = True  # the file shrank as it was sent: its length cannot be kept
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


class ChunkedSink:
    """A reply's body sent chunked (an archives.Sink): small writes gathered, files with sendfile."""

    GATHER = 64 * 1024

    def __init__(self, handler: Handler) -> None:
        self.handler, self.gathered = handler, bytearray()

    def write(self, data: bytes) -> None:
        self.gathered += data
        if len(self.gathered) >= self.GATHER:
            self.flush()

    def flush(self) -> None:
        if self.gathered:
            self.handler.wfile.write(b"%X\r\n%s\r\n" % (len(self.gathered), self.gathered))
            self.gathered.clear()

    def send_file(self, fd: int, length: int) -> None:
        self.flush()
        self.handler.wfile.write(b"%X\r\n" % length)
        missing = length - self.handler.send_file(fd, 0, length)
        while missing > 0:  # zeros for what the file lost while it was sent: the header promised them
            self.handler.wfile.write(bytes(min(missing, CHUNK)))
            missing -= CHUNK
        self.handler.wfile.write(b"\r\n")

    def close(self, trailers: Mapping[str, str]) -> None:
        self.flush()
        lines = "".join(f"{name}: {value}\r\n" for name, value in trailers.items())
        self.handler.wfile.write(b"0\r\n" + lines.encode() + b"\r\n")


def archive_get(handler: Handler, request: Request, root_fd: int) -> None:
    path, kind = request.path(), request.param("format", "tar.gz")
    if kind not in archives.FORMATS:
        raise BadRequest("format must be tar, tar.gz or zip, got {value!r}", value=kind)
    folder = listing.open_folder(root_fd, path)
    try:
        name = f"{path.rpartition('/')[2] or 'workspace'}.{kind}"
        handler.send_head(
            200,
            {
                **transfer.INERT_HEADERS,
                "Content-Type": archives.FORMATS[kind],
                "Content-Disposition": transfer.attachment(name),
                "Transfer-Encoding": "chunked",
                "Trailer": SKIPPED_TRAILER,
            },
        )
        sink = ChunkedSink(handler)
        level = handler.server.limits.gzip_level
        if kind == "zip":
            skipped = archives.write_zip(folder, sink, level)
        elif kind == "tar.gz":
            gzipped = archives.GzipSink(sink, level)
            skipped = archives.write_tar(folder, gzipped)
            gzipped.close()
        else:
            skipped = archives.write_tar(folder, sink)
        sink.close({SKIPPED_TRAILER: str(len(skipped))})
    finally:
        os.close(folder)
    if skipped:
        log.info(
            "the archive of %r skipped %d devices, FIFOs or sockets: %s", path, len(skipped), skipped[:20]
        )


def archive_post(handler: Handler, request: Request, root_fd: int) -> None:
    path, kind = request.path(), archive_kind(request)
    limits = handler.server.limits
    extraction = Extraction(root_fd, path, limits.max_extract_bytes, limits.max_extract_entries)
    handler.send_envelope(200, extraction.run(request.open_body(), kind))


def archive_kind(request: Request) -> str:
    """ "zip" or "tar" (tar.gz is told apart as it is read): from `format`, else the Content-Type."""
    named = request.param("format")
    if named in archives.FORMATS:
        return "zip" if named == "zip" else "tar"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ZIP_TYPES:
        return "zip"
    if content_type in TAR_TYPES:
        return "tar"
    raise BadRequest("say the archive's format: format=tar, tar.gz or zip, or its Content-Type")


def git_status(handler: Handler, request: Request, root_fd: int) -> None:
    handler.send_envelope(200, review.status(root_fd))


def git_diff(handler: Handler, request: Request, root_fd: int) -> None:
    text, cut = review.diff(root_fd)
    headers = {
        **transfer.INERT_HEADERS,
        "Content-Type": "text/x-diff; charset=utf-8",
        "Content-Length": str(len(text)),
        "X-Rcoder-Truncated": "true" if cut else "false",
    }
    handler.send_head(200, headers)
    if handler.command == "GET":
        handler.wfile.write(text)


ROUTES: dict[str, dict[str, Route]] = {
    "/": {"GET": list_route},
    "/raw": {"GET": raw_get, "HEAD": raw_get, "PUT": raw_put, "DELETE": raw_delete},
    "/archive": {"GET": archive_get, "POST": archive_post},
    "/git/status": {"GET": git_status},
    "/git/diff": {"GET": git_diff},
}
