"""One file's bytes: read (one Range, ETag, 304), written whole or not at all, deleted.

A write streams into an unnamed O_TMPFILE inode beside its name, links it in under a temporary name
and renames it over the old file: a reader holds the old inode or the new one, never a mix, and a
failure (ENOSPC included) or a crash leaves nothing behind. Where O_TMPFILE is not supported, a named
`.rcoder-part-<random>` file takes its place and is removed on failure.
"""

from __future__ import annotations

import contextlib
import errno
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote

from runner.files import beneath, listing
from runner.files.errors import BadRequest, Conflict, RangeNotSatisfiable, usage, workspace_full

# Every file served is inert: a page opened from the files API runs in an opaque origin, unsniffed.
INERT_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}
PART_PREFIX = ".rcoder-part-"
RANGE = re.compile(r"bytes=(\d*)-(\d*)")

# Set (by tests, or where O_TMPFILE is refused) to write named part files instead.
use_named_part = False


@dataclass
class FileReply:
    """What a read answers: a status and headers, and `length` bytes of `fd` from `offset` (no fd:
    no body). The caller sends them and closes `fd`."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    fd: int | None = None
    offset: int = 0
    length: int = 0


def etag(status: os.stat_result) -> str:
    return f'"{status.st_ino}-{status.st_size}-{status.st_mtime_ns}"'


def read(root_fd: int, path: str, request: Mapping[str, str], download: bool = False) -> FileReply:
    """The file at `path` for a GET or HEAD with `request`'s headers (lower-case names)."""
    fd, status = beneath.open_regular(root_fd, path)
    try:
        reply = _read(fd, status, path, request, download)
    except BaseException:
        os.close(fd)
        raise
    if reply.fd is None:
        os.close(fd)
    return reply


def _read(
    fd: int, status: os.stat_result, path: str, request: Mapping[str, str], download: bool
) -> FileReply:
    tag, size = etag(status), status.st_size
    headers = {
        **INERT_HEADERS,
        "ETag": tag,
        "Last-Modified": formatdate(status.st_mtime, usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Type": mimetypes.guess_type(path)[0] or "application/octet-stream",
    }
    if download:
        headers["Content-Disposition"] = attachment(path.rpartition("/")[2])
    if _matches(request.get("if-none-match"), tag):
        return FileReply(304, headers)
    wanted = request.get("range")
    if wanted and _still(request.get("if-range"), tag, headers["Last-Modified"]):
        span = byte_range(wanted, size)
        if span is not None:
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            headers["Content-Length"] = str(end - start + 1)
            return FileReply(206, headers, fd, start, end - start + 1)
    headers["Content-Length"] = str(size)
    return FileReply(200, headers, fd, 0, size)


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=` range; None for what is not one (several ranges, or
    another unit: the whole file is sent); RangeNotSatisfiable past the end."""
    match = RANGE.fullmatch(header.strip())
    if match is None or match[1] == match[2] == "":
        return None
    if match[1] == "":  # the last N bytes
        start, end = max(size - int(match[2]), 0), size - 1
        if int(match[2]) == 0:
            start = size
    else:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
        if match[2] and int(match[2]) < start:
            return None
    if start >= size:
        raise RangeNotSatisfiable(
            "the range {range} is outside the file's {size} bytes", range=header, size=size
        )
    return start, end


def attachment(name: str) -> str:
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    tags = [each.strip().removeprefix("W/") for each in if_none_match.split(",")]
    return "*" in tags or tag in tags


def _still(if_range: str | None, tag: str, last_modified: str) -> bool:
    """Whether a Range applies: no If-Range, or one that names the file as it is."""
    return if_range is None or if_range.strip() in (tag, last_modified)


class NewFile:
    """A file written beside `name` in the folder `parent_fd` and put in its place by `commit`; until
    then, or if anything fails, nothing of it is visible under `name`."""

    def __init__(self, parent_fd: int, name: str, mode: int = 0o644, readable: bool = False) -> None:
        self.parent_fd, self.name = parent_fd, name
        self.part: str | None = None  # the named part file, where O_TMPFILE is not supported
        self.fd = self._create(mode, (os.O_RDWR if readable else os.O_WRONLY) | os.O_CLOEXEC)
        self.written = 0

    def _create(self, mode: int, flags: int) -> int:
        if not use_named_part:
            try:
                return os.open(".", os.O_TMPFILE | flags, mode, dir_fd=self.parent_fd)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    raise
        self.part = f"{PART_PREFIX}{secrets.token_hex(8)}"
        return os.open(self.part, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=self.parent_fd)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            done = os.write(self.fd, view)
            view = view[done:]
            self.written += done

    def commit(self, durable: bool = True) -> os.stat_result:
        """Put the file in its place, atomically replacing what was there (but a folder: Conflict)."""
        if durable:
            os.fsync(self.fd)
        status = os.fstat(self.fd)
        if self.part is None:
            self.part = f"{PART_PREFIX}{secrets.token_hex(8)}"
            os.link(f"/proc/self/fd/{self.fd}", self.part, dst_dir_fd=self.parent_fd, follow_symlinks=True)
        try:
            os.rename(self.part, self.name, src_dir_fd=self.parent_fd, dst_dir_fd=self.parent_fd)
        except IsADirectoryError:
            raise Conflict("{name} is a folder: delete it first", name=self.name) from None
        self.part = None
        return status

    def close(self) -> None:
        """Close the file; a part file that was not committed is removed (an unnamed one just goes)."""
        os.close(self.fd)
        if self.part is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.part, dir_fd=self.parent_fd)
            self.part = None

    def __enter__(self) -> NewFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write(
    root_fd: int, path: str, chunks: Iterable[bytes], length: int | None = None, parents: bool = True
) -> dict:
    """Write the body `chunks` (of `length` bytes, when known) as the file `path`, making its folders
    unless `parents` is false; its entry (rcoder_wire.replies.FileEntry) once it is in place."""
    if not path:
        raise BadRequest("name a file to write, not the root")
    parent, name = beneath.split(path)
    if parents:
        parent_fd = beneath.make_folders(root_fd, parent)
    else:
        parent_fd = beneath.open_beneath(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
    try:
        if length is not None and length > usage(parent_fd)[2]:
            raise workspace_full(parent_fd)  # before a byte of the body is read
        with NewFile(parent_fd, name) as new:
            for chunk in chunks:
                new.write(chunk)
            status = new.commit()
        return listing.entry(name, status)
    finally:
        os.close(parent_fd)


def delete(root_fd: int, path: str, recursive: bool = False) -> None:
    """Delete a file, a link, an empty folder, or with `recursive` a folder and all it holds."""
    if not path:
        raise BadRequest("the root itself cannot be deleted")
    parent, name = beneath.split(path)
    parent_fd = beneath.open_beneath(root_fd, parent, os.O_PATH | os.O_DIRECTORY)
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return
        if recursive:
            _empty(parent_fd, name)
        try:
            os.rmdir(name, dir_fd=parent_fd)
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
            raise Conflict(
                "{path} is a folder that is not empty: delete it with recursive=true", path=path
            ) from None
    finally:
        os.close(parent_fd)


def _empty(parent_fd: int, name: str) -> None:
    """Remove what the folder `name` holds, bottom-up; a folder swapped for a link is not followed."""
    for _, folders, files, fd in os.fwalk(name, dir_fd=parent_fd, topdown=False, follow_symlinks=False):
        for each in files:
            os.unlink(each, dir_fd=fd)
        for each in folders:
            try:
                os.rmdir(each, dir_fd=fd)
            except NotADirectoryError:  # a link to a folder: fwalk lists it among the folders
                os.unlink(each, dir_fd=fd)
