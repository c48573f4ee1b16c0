"""A small stand-in for the files API (/agent/files/{p} and /computer/files/{u}/{p}) over a folder on
disk: listings by page, reads with Range, If-Range and ETag, writes and archives spooled to disk as they
arrive (chunked or not), and faults to act out: a reply cut after some bytes, a full workspace."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROUTES = ("/agent/files/p1", "/computer/files/u1/p1")
USAGE = {"used": 1000, "size": 10_000_000, "free": 9_999_000}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    received: int = 0  # bytes of the request's body


@dataclass
class FilesState:
    root: Path
    # Byte counts after which the next GET .../raw replies break, one per reply, in order.
    cuts: list[int] = field(default_factory=list)
    full: bool = False  # writes and uploads answer 507
    seen: list[Seen] = field(default_factory=list)
    before_reply: Any = None  # called with each Seen before it is answered (to change a file midway)


def envelope(data: Any, code: str = "0000", message: str = "success") -> bytes:
    success = code == "0000"
    return json.dumps(
        {"code": code, "message": message, "data": data, "tid": "t1", "success": success}
    ).encode()


def entry(path: Path) -> dict[str, Any]:
    info = path.lstat()
    kind = "symlink" if path.is_symlink() else "dir" if path.is_dir() else "file"
    mtime = datetime.fromtimestamp(info.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {
        "name": path.name,
        "type": kind,
        "size": info.st_size,
        "mtime": mtime,
        "mode": info.st_mode & 0o7777,
    }
    if kind == "symlink":
        data["target"] = str(path.readlink())
    return data


def etag(path: Path) -> str:
    info = path.stat()
    return f'"{info.st_size:x}-{info.st_mtime_ns:x}"'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: FilesState

    def log_message(self, *args: Any) -> None:
        pass

    def handle_one_request(self) -> None:
        super().handle_one_request()
        self.close_connection = True  # one request a connection: simpler to cut

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        route = next((r for r in ROUTES if url.path.startswith(r)), None)
        seen = Seen(self.command, url.path, query, {k.lower(): v for k, v in self.headers.items()})
        self.state.seen.append(seen)
        if route is None:
            return self.reply(404, envelope(None, "NOT_FOUND", "no such route"))
        endpoint = url.path[len(route) :]
        target = self.state.root / query.get("path", "")
        spooled = self.spool(seen) if self.command in ("PUT", "POST") else None
        if self.state.before_reply:
            self.state.before_reply(seen)
        if spooled is not None and self.state.full:
            return self.reply(507, envelope(None, "WORKSPACE_FULL", "the workspace is full"))
        handler = {
            ("GET", ""): self.listing,
            ("GET", "/raw"): self.read,
            ("PUT", "/raw"): self.write,
            ("DELETE", "/raw"): self.remove,
            ("GET", "/archive"): self.archive,
            ("POST", "/archive"): self.extract,
        }[(self.command, endpoint)]
        handler(target, query, spooled)

    do_GET = do_PUT = do_DELETE = do_POST = dispatch

    def spool(self, seen: Seen) -> Path:
        """The request's body, written to a file as it arrives (Content-Length or chunked)."""
        spooled = self.state.root.parent / f"upload-{len(self.state.seen)}"
        with spooled.open("wb") as out:
            if seen.headers.get("transfer-encoding") == "chunked":
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    seen.received += self.copy(out, size)
                    self.rfile.readline()
                self.rfile.readline()
            else:
                seen.received += self.copy(out, int(seen.headers.get("content-length", "0")))
        return spooled

    def copy(self, out: Any, size: int) -> int:
        left = size
        while left:
            data = self.rfile.read(min(left, 65536))
            out.write(data)
            left -= len(data)
        return size

    def reply(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, sent: int | None = None
    ) -> None:
        self.send_response(status)
        headers = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "connection": "close",
            **(headers or {}),
        }
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # a client that has read enough may leave
            self.wfile.write(body[:sent])

    def listing(self, target: Path, query: dict[str, str], _: Path | None) -> None:
        names = sorted(p.name for p in target.iterdir() if p.name > query.get("after", ""))
        limit = int(query.get("limit", "2"))  # small pages, so that paging shows
        page = [entry(target / name) for name in names[:limit]]
        data = {
            "path": query.get("path", ""),
            "entries": page,
            "truncated": len(names) > limit,
            "usage": USAGE,
        }
        self.reply(200, envelope(data))

    def read(self, target: Path, query: dict[str, str], _: Path | None) -> None:
        if not target.is_file():
            return self.reply(404, envelope(None, "NOT_FOUND", f"no file {query.get('path')}"))
        data, tag = target.read_bytes(), etag(target)
        asked = self.headers.get("range")
        if asked and self.headers.get("if-range") not in (None, tag):
            asked = None  # the file changed: all of it
        status, headers, body = 200, {"etag": tag, "content-type": "application/octet-stream"}, data
        if asked:
            first, _, last = asked.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last) if last else len(data) - 1
            if start >= len(data):
                return self.reply(416, envelope(None, "RANGE_NOT_SATISFIABLE", "past the end"))
            status, body = 206, data[start : end + 1]
            headers["content-range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        cut = self.state.cuts.pop(0) if self.state.cuts else None
        self.reply(status, body, headers, sent=cut)

    def write(self, target: Path, query: dict[str, str], spooled: Path | None) -> None:
        if query.get("parents") == "false" and not target.parent.is_dir():
            return self.reply(404, envelope(None, "NOT_FOUND", "no such folder"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(spooled, target)
        self.reply(200, envelope(entry(target)))

    def remove(self, target: Path, query: dict[str, str], _: Path | None) -> None:
        removed = entry(target)
        if target.is_dir() and any(target.iterdir()) and query.get("recursive") != "true":
            return self.reply(409, envelope(None, "DIRECTORY_NOT_EMPTY", "the folder is not empty"))
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        self.reply(200, envelope(removed))

    def archive(self, target: Path, query: dict[str, str], _: Path | None) -> None:
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as tar:
            for path in sorted(target.rglob("*")):
                tar.add(path, path.relative_to(target).as_posix(), recursive=False)
        # Streamed as the files server does: no length, the end of the connection ends it.
        self.send_response(200)
        self.send_header("content-type", "application/gzip")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(packed.getvalue())

    def extract(self, target: Path, query: dict[str, str], spooled: Path | None) -> None:
        target.mkdir(parents=True, exist_ok=True)
        if query.get("format") == "zip":
            with zipfile.ZipFile(spooled) as archive:
                names = [info for info in archive.infolist() if not info.is_dir()]
                archive.extractall(target)
                files, size = len(names), sum(info.file_size for info in names)
        else:
            with tarfile.open(spooled) as archive:
                members = archive.getmembers()
                archive.extractall(target)  # the test's own archives (Debian 12's 3.11.2 has no filter=)
                files, size = sum(not m.isdir() for m in members), sum(m.size for m in members)
        self.reply(200, envelope({"files": files, "bytes": size, "skipped": 0}))


@contextmanager
def serving(root: Path) -> Iterator[tuple[str, FilesState]]:
    """The server on 127.0.0.1 (a free port), in a thread: its URL and its state."""
    root.mkdir(exist_ok=True)
    state = FilesState(root)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
