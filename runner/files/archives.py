"""A folder beneath the root as an archive: tar (PAX headers), tar.gz or zip, streamed to a Sink.

The walk never follows links (they are archived as links, hard links too where the format has them);
a tar's data goes out with sendfile, zero-copy; devices, FIFOs and sockets are skipped and counted.
Archives come in through extraction.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from runner.files import beneath

log = logging.getLogger("rcoder.files")

FORMATS = {"tar": "application/x-tar", "tar.gz": "application/gzip", "zip": "application/zip"}
CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
ZIP64_FROM = 2**31  # zip entries this large get zip64 sizes (their size is known before they are written)


class Sink(Protocol):
    """Where an archive goes: bytes, and `length` bytes of a file (zero-padded if it shrank)."""

    def write(self, data: bytes) -> None: ...

    def send_file(self, fd: int, length: int) -> None: ...


class GzipSink:
    """A Sink that gzips what goes through it into another."""

    def __init__(self, inner: Sink, level: int) -> None:
        self.inner = inner
        self.compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip's header and trailer

    def write(self, data: bytes) -> None:
        if compressed := self.compressor.compress(data):
            self.inner.write(compressed)

    def send_file(self, fd: int, length: int) -> None:
        for block in read_blocks(fd, length):
            self.write(block)

    def close(self) -> None:
        self.inner.write(self.compressor.flush())


def read_blocks(fd: int, length: int) -> Iterator[bytes]:
    """`length` bytes of `fd` from its start, zero-padded if the file shrank meanwhile."""
    offset = 0
    while offset < length:
        block = os.pread(fd, min(CHUNK, length - offset), offset) or bytes(min(CHUNK, length - offset))
        offset += len(block)
        yield block


@dataclass
class Member:
    """A walked entry that goes into an archive; `fd` open for a regular file's bytes."""

    path: str
    status: os.stat_result
    link: str | None = None  # a symlink's target
    hard_link: str | None = None  # an earlier member with the same inode
    fd: int | None = None


def members(folder_fd: int, skipped: list[str]) -> Iterator[Member]:
    """The folder's entries to archive, top-down; devices, FIFOs and sockets go to `skipped`."""
    seen: dict[tuple[int, int], str] = {}
    for path, parent_fd, name, status in beneath.walk(folder_fd):
        mode = status.st_mode
        if stat.S_ISDIR(mode):
            yield Member(path, status)
        elif stat.S_ISLNK(mode):
            with contextlib.suppress(OSError):
                yield Member(path, status, link=os.readlink(name, dir_fd=parent_fd))
        elif not stat.S_ISREG(mode):
            skipped.append(path)
        elif status.st_nlink > 1 and (status.st_dev, status.st_ino) in seen:
            yield Member(path, status, hard_link=seen[status.st_dev, status.st_ino])
        else:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            try:
                fd = os.open(name, flags, dir_fd=parent_fd)
            except OSError:  # gone, or swapped for a link, since the walk saw it
                continue
            try:
                opened = os.fstat(fd)
                if not os.path.samestat(opened, status) or not stat.S_ISREG(opened.st_mode):
                    continue
                seen[status.st_dev, status.st_ino] = path
                yield Member(path, opened, fd=fd)
            finally:
                os.close(fd)


def write_tar(folder_fd: int, sink: Sink) -> list[str]:
    """The folder as a tar (PAX headers) into `sink`; the paths skipped."""
    skipped: list[str] = []
    offset = 0
    for member in members(folder_fd, skipped):
        info = tarfile.TarInfo(member.path)
        info.mode, info.mtime = stat.S_IMODE(member.status.st_mode), member.status.st_mtime
        if member.link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, member.link
        elif member.hard_link is not None:
            info.type, info.linkname = tarfile.LNKTYPE, member.hard_link
        elif member.fd is None:
            info.type = tarfile.DIRTYPE
        else:
            info.size = member.status.st_size
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        sink.write(header)
        if member.fd is not None and info.size:
            sink.send_file(member.fd, info.size)
            sink.write(bytes(-info.size % BLOCK))
        offset += len(header) + info.size + -info.size % BLOCK
    # The end: two zero blocks, and zeros up to a whole record, as tarfile and GNU tar write it.
    sink.write(bytes(2 * BLOCK + -(offset + 2 * BLOCK) % tarfile.RECORDSIZE))
    return skipped


class _ZipStream:
    """What zipfile writes to: a Sink, unseekable (zipfile then writes data descriptors)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def write(self, data: bytes) -> int:
        self.sink.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def write_zip(folder_fd: int, sink: Sink, level: int) -> list[str]:
    """The folder as a zip into `sink` (deflated at `level`); the paths skipped."""
    skipped: list[str] = []
    with zipfile.ZipFile(_ZipStream(sink), "w", zipfile.ZIP_DEFLATED) as archive:
        for member in members(folder_fd, skipped):
            directory = member.fd is None and member.link is None and member.hard_link is None
            info = zipfile.ZipInfo(
                member.path + ("/" if directory else ""), _zip_time(member.status.st_mtime)
            )
            info.create_system = 3  # unix: the mode below is read from external_attr
            info.external_attr = (member.status.st_mode & 0xFFFF) << 16 | (0x10 if directory else 0)
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = level  # zipfile's own name for it (an alias of compress_level in 3.13)
            if member.link is not None:
                archive.writestr(info, os.fsencode(member.link))
            elif member.fd is None:  # a folder, or a hard link (a zip has none: its bytes go again)
                archive.writestr(info, b"" if directory else _read_again(folder_fd, member.hard_link))
            else:
                with archive.open(info, "w", force_zip64=member.status.st_size >= ZIP64_FROM) as out:
                    for block in read_blocks(member.fd, member.status.st_size):
                        out.write(block)
    return skipped


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    return time.gmtime(max(mtime, 315532800))[:6]  # a zip's dates start in 1980


def _read_again(folder_fd: int, path: str | None) -> bytes:
    fd, _ = beneath.open_regular(folder_fd, path or "", follow=False)
    try:
        return b"".join(read_blocks(fd, os.fstat(fd).st_size))
    finally:
        os.close(fd)
