"""The files server's errors. Each carries its HTTP status and the seed's error code, and is worded
through rcoder_rpc/messages.py in the request's language; the server renders them in the envelope.

    FilesError               500 UNKNOWN_ERROR
    ├── BadRequest           400 VALIDATION_ERROR
    ├── Forbidden            403 FORBIDDEN
    │   ├── PathEscapes      403 FORBIDDEN (a path or link would leave the root)
    │   └── NotARegularFile  403 FORBIDDEN (a device, FIFO or socket)
    ├── NotFound             404 NOT_FOUND
    ├── MethodNotAllowed     405 METHOD_NOT_ALLOWED
    ├── Conflict             409 CONFLICT
    ├── TooLarge             413 PAYLOAD_TOO_LARGE
    ├── RangeNotSatisfiable  416 RANGE_NOT_SATISFIABLE
    └── WorkspaceFull        507 WORKSPACE_FULL
"""

from __future__ import annotations

import errno
import os
from typing import Any

from rcoder_rpc.messages import translate


class FilesError(Exception):
    status = 500
    code = "UNKNOWN_ERROR"

    def __init__(self, template: str, **params: Any) -> None:
        """`template`: the English message, with {fields} filled from `params` (see rcoder_rpc/messages.py)."""
        self.template, self.params = template, params
        super().__init__(template.format(**params) if params else template)

    def localized(self, lang: str | None = None) -> str:
        return translate(self.template, lang, **self.params)


class BadRequest(FilesError):
    status = 400
    code = "VALIDATION_ERROR"


class Forbidden(FilesError):
    status = 403
    code = "FORBIDDEN"


class PathEscapes(Forbidden):
    """The path, or a link on it, leads out of the root."""


class NotARegularFile(Forbidden):
    """A device, FIFO or socket: never opened for its bytes."""


class NotFound(FilesError):
    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(FilesError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(FilesError):
    status = 409
    code = "CONFLICT"


class TooLarge(FilesError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class RangeNotSatisfiable(FilesError):
    status = 416
    code = "RANGE_NOT_SATISFIABLE"

    @property
    def size(self) -> int:
        """The file's size (for the reply's Content-Range: bytes */size)."""
        return self.params["size"]


class WorkspaceFull(FilesError):
    status = 507
    code = "WORKSPACE_FULL"


def workspace_full(fd: int) -> WorkspaceFull:
    """The 507 for the file system holding `fd`, with its figures."""
    used, size, _ = usage(fd)
    return WorkspaceFull(
        "the workspace is full ({used} of {size} bytes): remove files, or ask the operator for a larger workspace",
        used=used,
        size=size,
    )


def usage(fd: int) -> tuple[int, int, int]:
    """(used, size, free) bytes of the file system holding `fd`."""
    vfs = os.fstatvfs(fd)
    size = vfs.f_blocks * vfs.f_frsize
    return size - vfs.f_bfree * vfs.f_frsize, size, vfs.f_bavail * vfs.f_frsize


def from_os_error(exc: OSError, path: str, fd: int) -> FilesError:
    """An OSError met while serving `path` as the error the client sees (`fd`: on the workspace)."""
    match exc.errno:
        case errno.ENOENT:
            return NotFound("{path} does not exist", path=path)
        case errno.ENOTDIR:
            return NotFound("{path} does not exist: a part of it is not a folder", path=path)
        case errno.ENOSPC | errno.EDQUOT:
            return workspace_full(fd)
        case errno.EEXIST | errno.ENOTEMPTY | errno.EISDIR:
            return Conflict("{path} is in the way: {reason}", path=path, reason=os.strerror(exc.errno))
        case errno.EACCES | errno.EPERM | errno.EROFS:
            return Forbidden("{path} cannot be changed: {reason}", path=path, reason=os.strerror(exc.errno))
        case errno.ENAMETOOLONG:
            return BadRequest("{path} is too long", path=path)
    return FilesError("{path}: {reason}", path=path, reason=os.strerror(exc.errno or 0))
