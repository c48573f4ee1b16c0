"""A folder's entries, as the files API lists them (rcoder_wire.replies.FileList)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from typing import Any

from runner.files import beneath
from runner.files.errors import BadRequest, usage

DEFAULT_LIMIT = 1000
MAX_LIMIT = 1000


def kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"  # a device, FIFO or socket: listed, never opened


def rfc3339(mtime_ns: int) -> str:
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1000:06d}Z"


def entry(name: str, status: os.stat_result, target: str | None = None) -> dict[str, Any]:
    """One entry (rcoder_wire.replies.FileEntry); `target`: a link's."""
    found: dict[str, Any] = {
        "name": name,
        "type": kind(status.st_mode),
        "size": 0 if stat.S_ISDIR(status.st_mode) else status.st_size,
        "mtime": rfc3339(status.st_mtime_ns),
        "mode": stat.S_IMODE(status.st_mode),
    }
    if target is not None:
        found["target"] = target
    return found


def usage_of(fd: int) -> dict[str, int]:
    used, size, free = usage(fd)
    return {"used": used, "size": size, "free": free}


def open_folder(root_fd: int, path: str) -> int:
    """The folder at `path` beneath the root, open for reading its entries."""
    try:
        return beneath.open_beneath(root_fd, path, os.O_RDONLY | os.O_DIRECTORY)
    except NotADirectoryError:
        raise BadRequest("{path} is not a folder", path=path) from None


def list_folder(root_fd: int, path: str, limit: int = DEFAULT_LIMIT, after: str = "") -> dict[str, Any]:
    """The entries of the folder at `path` beneath the root, sorted by name: at most `limit` of them,
    those after the name `after` (the last of the previous page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest("limit must be from 1 to {most}", most=MAX_LIMIT)
    folder = open_folder(root_fd, path)
    try:
        with os.scandir(folder) as found:
            names = sorted(each.name for each in found if each.name > after)
        entries = []
        for name in names[:limit]:
            try:
                status = os.stat(name, dir_fd=folder, follow_symlinks=False)
                target = os.readlink(name, dir_fd=folder) if stat.S_ISLNK(status.st_mode) else None
            except FileNotFoundError:  # removed since the folder was read
                continue
            entries.append(entry(name, status, target))
        return {"path": path, "entries": entries, "truncated": len(names) > limit, "usage": usage_of(folder)}
    finally:
        os.close(folder)
