"""`ProjectFiles` (`project.files`): a project's workspace through the files API: folders listed, files
read, written and removed, a folder downloaded as an archive, a folder or an archive uploaded.

Bytes stream both ways, so nothing the size of a file is held in memory: downloads are written to disk
as they come, uploads are read from disk as they go, and a local folder is packed while it is sent
(rcoder/archives.py). A file's download cut midway is picked up where it broke, with a Range request
that holds only while the file is the one first read (If-Range with its ETag).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from rcoder.archives import CHUNK, GZIP, ZIP, archive_kind, folder_archive, read_chunks
from rcoder.errors import FileChanged, TransportError
from rcoder_wire.contract import project_route
from rcoder_wire.replies import ExtractData, FileEntry, FileList

if TYPE_CHECKING:
    from rcoder.client import M
    from rcoder.project import Project

ArchiveFormat = Literal["tar", "tar.gz", "zip"]
ARCHIVE_FORMATS: tuple[ArchiveFormat, ...] = ("tar", "tar.gz", "zip")
# Called as bytes move: (bytes so far, the total when it is known).
Progress = Callable[[int, int | None], None]
# What `write` takes: bytes, text (written as UTF-8), a local file, or chunks as they come.
Content = bytes | str | os.PathLike[str] | AsyncIterable[bytes]
# A cut download is asked for again this many times in a row without a byte coming in between.
RESUMES = 3
RESUME_PAUSE = 0.5
CONTENT_RANGE = re.compile(r"^bytes (\d+)-\d+/(\d+|\*)$")


class ProjectFiles:
    """The files of a project's workspace (for a Computer Agent project, its folder of the desktop's
    home). Paths are relative to the workspace; each call works whether the project's container runs,
    is paused or is gone, and never starts its agent."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.appliance = project.appliance
        self.route = project_route("files", project.id, project.user)

    def __repr__(self) -> str:
        return f"ProjectFiles({self.project!r})"

    async def list(self, path: str = "", *, limit: int | None = None, after: str | None = None) -> FileList:
        """One page of a folder's entries, by name; when `truncated`, the next page is `after` the last
        name (`entries` reads every page)."""
        params = query(path=path, limit=limit, after=after)
        return await self.appliance.call("GET", self.route, params=params, reply=FileList)

    async def entries(self, path: str = "") -> AsyncIterator[FileEntry]:
        """Every entry of a folder, page after page."""
        after = None
        while True:
            page = await self.list(path, after=after)
            for entry in page.entries:
                yield entry
            if not page.truncated or not page.entries:
                return
            after = page.entries[-1].name

    async def read(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """A file's bytes, or those from `start` up to `end` (excluded), as `data[start:end]` would."""
        return b"".join([chunk async for chunk in self.chunks(path, start=start, end=end)])

    async def chunks(
        self, path: str, *, start: int = 0, end: int | None = None, progress: Progress | None = None
    ) -> AsyncIterator[bytes]:
        """A file's bytes from `start` up to `end` (excluded) as they come. A connection cut midway is
        asked again for the rest (Range), only while the file is unchanged: a file replaced meanwhile
        raises FileChanged rather than splice two versions."""
        position, size, etag, failures = start, None, None, 0
        while end is None or position < end:
            before = position
            headers = {"if-range": etag} if etag else {}
            if position or end is not None:
                headers["range"] = f"bytes={position}-{'' if end is None else end - 1}"
            try:
                async with self.appliance.open(
                    "GET", f"{self.route}/raw", params={"path": path}, headers=headers
                ) as response:
                    size = reply_size(response, path, position, etag) if "range" in headers else size
                    if size is None and response.status_code == 200:
                        size = content_length(response)
                    etag = etag or response.headers.get("etag")
                    async for chunk in self.appliance.body(response):
                        position += len(chunk)
                        if progress:
                            progress(position, size)
                        yield chunk
                return
            except TransportError:
                # Only a reply with an ETag can be resumed safely; a connection that never opens is
                # not a cut download.
                failures = 0 if position > before else failures + 1
                if etag is None or failures > RESUMES:
                    raise
                if size is not None and position >= size:
                    return
                await asyncio.sleep(RESUME_PAUSE * failures)

    async def write(
        self, path: str, content: Content, *, parents: bool = True, progress: Progress | None = None
    ) -> FileEntry:
        """Write a file, atomically: a reader sees the old bytes or the new. `content` is bytes, text
        (UTF-8), a local file (a Path, read as it is sent) or an async iterable of chunks. Missing
        folders on the way are made, unless `parents` is False. A full workspace raises WorkspaceFull,
        and nothing is left of the upload."""
        headers = {"content-type": "application/octet-stream"}
        if isinstance(content, str):
            content = content.encode()
        if isinstance(content, bytes):
            chunks, total = pieces(content), len(content)
        elif isinstance(content, os.PathLike):
            local = Path(content)
            total = (await asyncio.to_thread(local.stat)).st_size
            chunks = read_chunks(local, total)
        else:
            chunks, total = content, None
        if total is not None:
            headers["content-length"] = str(total)
        params = query(path=path, parents=None if parents else "false")
        return await self._send("PUT", "/raw", chunks, headers, params, progress, total, FileEntry)

    async def remove(self, path: str, *, recursive: bool = False) -> FileEntry:
        """Remove a file, an empty folder, or with `recursive` a whole tree (never beyond a link). A
        folder that is not empty raises Conflict."""
        params = query(path=path, recursive="true" if recursive else None)
        return await self.appliance.call("DELETE", f"{self.route}/raw", params=params, reply=FileEntry)

    async def download_file(
        self, path: str, out: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> Path:
        """Save a file of the workspace as `out`, resuming a cut connection where it broke; `out` appears
        whole or not at all."""
        return await save(self.chunks(path, progress=progress), Path(out))

    async def download(
        self,
        path: str = "",
        out: str | os.PathLike[str] | None = None,
        *,
        format: ArchiveFormat = "tar.gz",
        progress: Progress | None = None,
    ) -> Path:
        """Save a folder (default: the whole workspace) as an archive: `out`, by default named for the
        project or the folder (`demo.tar.gz`). Links stay links; devices, FIFOs and sockets are left out."""
        if out is None:
            out = f"{Path(path).name or self.project.id}.{format}"
        params = query(path=path, format=format)
        async with self.appliance.open("GET", f"{self.route}/archive", params=params) as response:
            chunks = self.appliance.body(response)
            if progress:
                chunks = counted(chunks, progress, content_length(response))
            return await save(chunks, Path(out))

    async def upload(
        self, source: str | os.PathLike[str], to: str = "", *, progress: Progress | None = None
    ) -> ExtractData:
        """Unpack into the folder `to` (default: the workspace's top) a local folder, packed as tar.gz
        while it is sent, or a tar, tar.gz or zip archive. An archive with an entry leading out of `to`
        is refused whole (BadRequest); past the appliance's limits, PayloadTooLarge or WorkspaceFull,
        and nothing of it is left."""
        local = Path(source)
        params = query(path=to)
        if await asyncio.to_thread(local.is_dir):
            chunks, headers, total = folder_archive(local), {"content-type": GZIP}, None
        else:
            kind = await asyncio.to_thread(archive_kind, local)
            total = (await asyncio.to_thread(local.stat)).st_size
            chunks = read_chunks(local, total)
            headers = {"content-type": kind, "content-length": str(total)}
            if kind == ZIP:
                params["format"] = "zip"
        return await self._send("POST", "/archive", chunks, headers, params, progress, total, ExtractData)

    async def _send(
        self,
        method: str,
        endpoint: str,
        chunks: AsyncIterable[bytes],
        headers: dict[str, str],
        params: dict[str, str],
        progress: Progress | None,
        total: int | None,
        reply: type[M],
    ) -> M:
        """A request whose body streams from `chunks`, closed however the request ends."""
        if progress:
            chunks = counted(chunks, progress, total)
        async with contextlib.aclosing(aiter_of(chunks)) as stream:
            return await self.appliance.call(
                method, f"{self.route}{endpoint}", content=stream, headers=headers, params=params, reply=reply
            )


def query(**params: Any) -> dict[str, str]:
    """The query's parameters, without those not given."""
    return {name: str(value) for name, value in params.items() if value not in (None, "")}


def content_length(response: httpx.Response) -> int | None:
    length = response.headers.get("content-length")
    return int(length) if length and length.isdigit() else None


def reply_size(response: httpx.Response, path: str, position: int, etag: str | None) -> int | None:
    """The file's size from the reply to a Range request, which must start where it was asked to, from
    the same file (its ETag) when it resumes a cut download."""
    match = CONTENT_RANGE.match(response.headers.get("content-range", ""))
    same = etag is None or response.headers.get("etag") in (None, etag)
    if response.status_code != 206 or not match or int(match[1]) != position or not same:
        if etag:
            raise FileChanged(f"{path} changed while it was read: read it again")
        raise TransportError(f"the reply to a Range request for {path} is not the range asked for")
    return None if match[2] == "*" else int(match[2])


async def pieces(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK):
        yield bytes(view[offset : offset + CHUNK])


async def counted(
    chunks: AsyncIterable[bytes], progress: Progress, total: int | None
) -> AsyncIterator[bytes]:
    """The chunks, with `progress` told of each once it has been taken."""
    done = 0
    progress(done, total)
    async for chunk in chunks:
        yield chunk
        done += len(chunk)
        progress(done, total)


async def aiter_of(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """An iterable as a generator that can be closed (the caller's own iterable is left to it)."""
    async for chunk in chunks:
        yield chunk


async def save(chunks: AsyncIterator[bytes], out: Path) -> Path:
    """Write the chunks to `out` through a `.part` file beside it, renamed once all of it is there."""
    part = out.with_name(f"{out.name}.part")
    file = await asyncio.to_thread(part.open, "wb")
    try:
        with file:
            async for chunk in chunks:
                file.write(chunk)
        await asyncio.to_thread(part.replace, out)
    finally:
        part.unlink(missing_ok=True)
    return out
