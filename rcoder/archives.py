"""Local archives for uploads: a folder packed as tar.gz while it is sent, and the kind of an archive
file told by its first bytes.

The tar stream is written here rather than by `tarfile`, whose `add` copies a whole file in one call:
each header comes from `TarInfo.tobuf` and each file's data is read a chunk at a time, so an upload
holds a few chunks, never a file. Links stay links; FIFOs, sockets and devices are left out (the
appliance refuses archives holding them).
"""

from __future__ import annotations

import asyncio
import os
import stat
import tarfile
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from rcoder.errors import BadRequest

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
# Level 1: most of what gzip saves on source trees, at a speed that keeps up with a fast network.
GZIP_LEVEL = 1

TAR = "application/x-tar"
GZIP = "application/gzip"
ZIP = "application/zip"


def archive_kind(path: Path) -> str:
    """The content type of an archive file: tar, gzip (a tar.gz) or zip, from its magic bytes."""
    with path.open("rb") as file:
        head = file.read(BLOCK)
    if head[:2] == b"\x1f\x8b":
        return GZIP
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if head[257:262] == b"ustar":
        return TAR
    raise BadRequest(
        f"{path} is neither a folder nor a tar, tar.gz or zip archive",
        status_code=400,
        code="VALIDATION_ERROR",
    )


def raise_error(error: OSError) -> None:
    """os.walk's errors raised, not passed over: an upload that left a folder out would look whole."""
    raise error


def members(folder: Path) -> Iterator[tuple[Path, str, os.stat_result]]:
    """(path, name in the archive, lstat) of everything below `folder`, parents before children."""
    for top, dirs, files in os.walk(folder, onerror=raise_error):
        dirs.sort()
        for name in [*sorted(files), *dirs]:
            path = Path(top, name)
            yield path, path.relative_to(folder).as_posix(), path.lstat()


def header(name: str, info: os.stat_result, path: Path) -> bytes | None:
    """The tar header of one member (owners left out: the appliance's own user owns what it unpacks),
    or None for what an archive does not carry."""
    entry = tarfile.TarInfo(name)
    entry.mode = stat.S_IMODE(info.st_mode)
    entry.mtime = int(info.st_mtime)
    if stat.S_ISREG(info.st_mode):
        entry.size = info.st_size
    elif stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(info.st_mode):
        entry.type, entry.linkname = tarfile.SYMTYPE, os.readlink(path)
    else:
        return None
    return entry.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


async def read_chunks(path: Path, size: int) -> AsyncIterator[bytes]:
    """The first `size` bytes of a local file, a chunk at a time."""
    file = await asyncio.to_thread(path.open, "rb")
    try:
        left = size
        while left:
            chunk = await asyncio.to_thread(file.read, min(CHUNK, left))
            if not chunk:
                raise OSError(f"{path} shrank while it was read: send it again")
            left -= len(chunk)
            yield chunk
    finally:
        file.close()


async def file_data(path: Path, size: int) -> AsyncIterator[bytes]:
    """A member's data: `size` bytes of the file, then the padding to a whole block."""
    async for chunk in read_chunks(path, size):
        yield chunk
    if size % BLOCK:
        yield bytes(BLOCK - size % BLOCK)


async def tar_stream(folder: Path) -> AsyncIterator[bytes]:
    """The folder's contents as a tar archive (names relative to it), made as it is read."""
    for path, name, info in members(folder):
        entry = header(name, info, path)
        if entry is None:
            continue
        yield entry
        if stat.S_ISREG(info.st_mode):
            async for chunk in file_data(path, info.st_size):
                yield chunk
    yield bytes(2 * BLOCK)


async def gzipped(chunks: AsyncIterator[bytes], level: int = GZIP_LEVEL) -> AsyncIterator[bytes]:
    """The chunks gzip-compressed, as they come."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip header and trailer
    async for chunk in chunks:
        if packed := compressor.compress(chunk):
            yield packed
    yield compressor.flush()


def folder_archive(folder: Path) -> AsyncIterator[bytes]:
    """The folder as tar.gz, made while it is sent."""
    return gzipped(tar_stream(folder))
