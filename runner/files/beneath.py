"""Paths resolved beneath a root folder, never outside it, whatever links the workspace holds.

openat2(2) with RESOLVE_BENEATH does it in the kernel. Where a seccomp profile refuses openat2 (EPERM;
Docker's default has allowed it since 20.10) or the kernel lacks it (ENOSYS), the same resolution is
walked here one component at a time on held descriptors, links read and followed by hand: a link that
is absolute or climbs above the root is refused, as the kernel refuses it.

A path names a final component that is opened O_PATH (no bytes, no blocking on a FIFO) and inspected
with fstat; bytes come from reopening /proc/self/fd/N, which names that very inode.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Iterator

from runner.files.errors import BadRequest, NotARegularFile, PathEscapes

MAX_PATH_BYTES = 4096
MAX_HOPS = 40  # links followed in one resolution, as the kernel's MAXSYMLINKS

SYS_OPENAT2 = 437  # the same number on every architecture (the generic syscall table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

# Set (by tests, or once openat2 is refused) to resolve with the descriptor walk alone.
use_fallback = False


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def check_relative(path: str) -> str:
    """`path` as components beneath the root joined by "/" ("" is the root itself). A leading "/"
    means the root; a `..`, a NUL or more than 4096 bytes is refused before any system call."""
    if "\0" in path:
        raise BadRequest("the path {path!r} holds a NUL byte", path=path)
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise BadRequest("the path is longer than {limit} bytes", limit=MAX_PATH_BYTES)
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise BadRequest("the path {path!r} climbs with '..': name a place beneath the root", path=path)
    return "/".join(parts)


def open_beneath(root_fd: int, path: str, flags: int, mode: int = 0) -> int:
    """A descriptor for `path` (checked by check_relative) resolved beneath `root_fd`, opened with
    `flags`: links on the way, and the last one unless `flags` has O_NOFOLLOW, are followed while
    they stay beneath. A path or link that leaves the root raises PathEscapes."""
    global use_fallback
    if not use_fallback:
        try:
            return _openat2(root_fd, path or ".", flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM):
                raise
            use_fallback = True
    return _walk(root_fd, path, flags, mode)


def open_root(mount_fd: int, folder: str) -> int:
    """An O_PATH descriptor of `folder` (a root inside a shared volume) beneath `mount_fd`, reached
    through no link at all, so that a folder swapped for a link to a neighbour's is refused."""
    folder = check_relative(folder)
    if not use_fallback:
        try:
            resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
            return _openat2(mount_fd, folder or ".", os.O_PATH | os.O_DIRECTORY, 0, resolve)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM):
                raise
    fd = os.dup(mount_fd)
    try:
        for name in folder.split("/") if folder else ():
            following = os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = following
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise PathEscapes("the root folder {folder!r} goes through a link", folder=folder)
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), folder)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(root_fd: int, path: str, follow: bool = True) -> tuple[int, os.stat_result]:
    """An O_RDONLY descriptor of the regular file at `path`, and its stat. Anything else (a device, a
    FIFO, a socket; a folder) raises NotARegularFile, or IsADirectoryError, without blocking."""
    located = open_beneath(root_fd, path, os.O_PATH | (0 if follow else os.O_NOFOLLOW))
    try:
        status = os.fstat(located)
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(status.st_mode):
            raise NotARegularFile("{path} is not a regular file", path=path)
        return reopen(located, os.O_RDONLY), status
    finally:
        os.close(located)


def reopen(fd: int, flags: int) -> int:
    """The inode of an O_PATH descriptor opened again, for its bytes."""
    return os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)


def split(path: str) -> tuple[str, str]:
    """(parent, name) of a checked path that is not the root."""
    parent, _, name = path.rpartition("/")
    return parent, name


def make_folders(root_fd: int, path: str, made: list[str] | None = None) -> int:
    """An O_PATH descriptor of the folder `path` beneath the root, made where it is missing, one
    component at a time (mkdirat never follows a link; each step is resolved beneath again). Each
    folder made is appended to `made`."""
    fd = open_beneath(root_fd, "", os.O_PATH | os.O_DIRECTORY)
    done = ""
    try:
        for name in path.split("/") if path else ():
            done = f"{done}/{name}" if done else name
            try:
                os.mkdir(name, 0o755, dir_fd=fd)
                if made is not None:
                    made.append(done)
            except FileExistsError:
                pass
            os.close(fd)
            fd = -1
            fd = open_beneath(root_fd, done, os.O_PATH | os.O_DIRECTORY)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return fd


def walk(dir_fd: int, prefix: str = "") -> Iterator[tuple[str, int, str, os.stat_result]]:
    """Every entry under the folder `dir_fd`, top-down, sorted by name: (its path from the folder,
    its parent folder's descriptor, its name, its lstat). A folder is entered by a descriptor opened
    O_NOFOLLOW relative to its parent's, so one swapped for a link mid-walk is skipped, not followed."""
    with os.scandir(dir_fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        try:
            status = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        path = f"{prefix}{name}"
        yield path, dir_fd, name, status
        if stat.S_ISDIR(status.st_mode):
            try:
                child = os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                )
            except OSError:  # gone, or swapped for a link or a file since its lstat
                continue
            try:
                if os.path.samestat(os.fstat(child), status):
                    yield from walk(child, f"{path}/")
            finally:
                os.close(child)


def _openat2(dir_fd: int, path: str, flags: int, mode: int, resolve: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    encoded = os.fsencode(path)
    while True:
        fd = _libc.syscall(
            ctypes.c_long(SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(encoded),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return fd
        code = ctypes.get_errno()
        if code in (errno.EAGAIN, errno.EINTR):  # a rename raced the lookup: the kernel asks to retry
            continue
        if code in (errno.EXDEV, errno.ELOOP):
            raise PathEscapes("{path} leads out of the root, or through too many links", path=path)
        raise OSError(code, os.strerror(code), path)


def _walk(root_fd: int, path: str, flags: int, mode: int) -> int:
    """openat2's resolution by hand: a descriptor held for each folder on the way (`..` in a link
    goes back to the one before, never above the root), and each link read and followed."""
    follow_last = not flags & os.O_NOFOLLOW
    held = [os.dup(root_fd)]
    pending = [part for part in path.split("/") if part not in ("", ".")]
    hops = 0
    try:
        while pending:
            name = pending.pop(0)
            if name == "..":
                if len(held) == 1:
                    raise PathEscapes("{path} leads out of the root, or through too many links", path=path)
                os.close(held.pop())
                continue
            last = not pending
            if last and not follow_last:
                return _open_last(name, flags | os.O_NOFOLLOW, mode, held[-1], path)
            try:
                fd = os.open(name, (flags if last else os.O_PATH) | os.O_NOFOLLOW, mode, dir_fd=held[-1])
            except OSError as exc:
                # A link met with O_NOFOLLOW: ELOOP, or ENOTDIR when O_DIRECTORY was asked for.
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not _is_link(held[-1], name):
                    raise
                fd = None
            if fd is not None and not stat.S_ISLNK(os.fstat(fd).st_mode):
                if last:
                    return fd
                held.append(fd)
                continue
            hops += 1
            if fd is None:
                target = os.readlink(name, dir_fd=held[-1])
            else:
                try:
                    target = os.readlink("", dir_fd=fd)  # the link that was opened, not the name again
                finally:
                    os.close(fd)
            if hops > MAX_HOPS or target.startswith("/"):
                raise PathEscapes("{path} leads out of the root, or through too many links", path=path)
            pending[:0] = [part for part in target.split("/") if part not in ("", ".")]
        # The path ended on the root, or on a folder reached with `..`.
        return os.open(".", flags, mode, dir_fd=held[-1])
    finally:
        for fd in held:
            os.close(fd)


def _open_last(name: str, flags: int, mode: int, dir_fd: int, path: str) -> int:
    try:
        return os.open(name, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # as openat2 answers a last link opened O_NOFOLLOW without O_PATH
            raise PathEscapes("{path} leads out of the root, or through too many links", path=path) from None
        raise


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
