"""An archive extracted into a folder beneath the root.

tar and tar.gz are extracted as they stream in; a zip (its directory is at its end) is spooled to an
unnamed file in the workspace first, which counts against its quota. Every entry is created through its
parent opened beneath the root, so a link extracted earlier never redirects a later entry (the "link,
then link/x" attack); a hard link may name only a file this archive extracted. What is written is
counted, not what the headers claim; past a limit, or on any refusal, what this extraction created is
removed again.
"""

from __future__ import annotations

import calendar
import logging
import os
import secrets
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from runner.files import beneath
from runner.files.errors import BadRequest, TooLarge
from runner.files.transfer import PART_PREFIX, NewFile

log = logging.getLogger("rcoder.files")

CHUNK = 1024 * 1024
# A tar's extended headers (PAX, GNU long names) are read whole into memory: a bomb could claim GiBs.
MAX_HEADER_BYTES = 1024 * 1024
MAX_LINK_BYTES = 4096


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses an extended header (read whole into memory) past MAX_HEADER_BYTES."""

    def _proc_member(self, archive):  # tarfile's hook for every header it reads
        headers = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
        if self.type in headers and self.size > MAX_HEADER_BYTES:
            raise TooLarge(
                "an extended header of the archive is larger than {limit} bytes", limit=MAX_HEADER_BYTES
            )
        return super()._proc_member(archive)


@dataclass
class Extraction:
    """An archive extracted into `dest` beneath the root, within limits; `made` is what it created
    (removed again if it fails)."""

    root_fd: int
    dest: str
    max_bytes: int
    max_entries: int
    files: int = 0
    bytes: int = 0
    skipped: int = 0
    entries: int = 0
    made: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)  # regular files written: what a hard link may name
    folders: list[tuple[str, int, float]] = field(default_factory=list)  # modes and times set last

    def run(self, body: BinaryIO, kind: str) -> dict[str, int]:
        try:
            os.close(beneath.make_folders(self.root_fd, self.dest, self.made))
            if kind == "zip":
                self._zip(body)
            else:
                self._tar(body)
            for path, mode, mtime in reversed(self.folders):
                self._set_folder(path, mode, mtime)
        except BaseException:
            self.roll_back()
            raise
        return {"files": self.files, "bytes": self.bytes, "skipped": self.skipped}

    def _tar(self, body: BinaryIO) -> None:
        try:
            with tarfile.open(fileobj=body, mode="r|*", tarinfo=_BoundedTarInfo) as archive:
                for member in archive:
                    self._tar_member(archive, member)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # the workspace's, not the archive's (ENOSPC among them)
            raise unreadable(exc) from None

    def _tar_member(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        path = self._place(member.name)
        if path is None:
            return
        mode = stat.S_IMODE(member.mode) & 0o777  # no setuid, setgid or sticky bit
        if member.isdir():
            self._folder(path, mode, member.mtime)
        elif member.issym():
            self._symlink(member.name, path, member.linkname)
        elif member.islnk():
            self._hard_link(member.name, path, member.linkname)
        elif member.isfile():
            reader = archive.extractfile(member)
            assert reader is not None
            self._file(path, iter(lambda: reader.read(CHUNK), b""), mode, member.mtime)
        elif member.ischr() or member.isblk() or member.isfifo():
            raise BadRequest("the archive's entry {entry!r} is a device or a FIFO", entry=member.name)
        else:
            self.skipped += 1

    def _zip(self, body: BinaryIO) -> None:
        with NewFile(self.root_fd, "", 0o600, readable=True) as spool:  # never committed: gone once closed
            for chunk in iter(lambda: body.read(CHUNK), b""):
                if spool.written + len(chunk) > self.max_bytes:
                    raise TooLarge("the archive holds more than {limit} bytes", limit=self.max_bytes)
                spool.write(chunk)
            try:
                with zipfile.ZipFile(os.fdopen(os.dup(spool.fd), "rb")) as archive:
                    if len(archive.infolist()) > self.max_entries:
                        raise TooLarge("the archive has more than {limit} entries", limit=self.max_entries)
                    for info in archive.infolist():
                        self._zip_member(archive, info)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                raise unreadable(exc) from None  # not a zip, or a compression or encryption zipfile lacks

    def _zip_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        path = self._place(info.filename)
        if path is None:
            return
        unix = info.external_attr >> 16 if info.create_system == 3 else 0
        mode = stat.S_IMODE(unix) & 0o777 or (0o755 if info.is_dir() else 0o644)
        mtime = calendar.timegm((*info.date_time, 0, 0, 0))
        if info.is_dir() or stat.S_ISDIR(unix):
            self._folder(path, mode, mtime)
        elif stat.S_ISLNK(unix):
            with archive.open(info) as reader:
                target = reader.read(MAX_LINK_BYTES + 1)
            self._symlink(info.filename, path, os.fsdecode(target))
        elif any(test(unix) for test in (stat.S_ISCHR, stat.S_ISBLK, stat.S_ISFIFO, stat.S_ISSOCK)):
            raise BadRequest("the archive's entry {entry!r} is a device or a FIFO", entry=info.filename)
        else:
            with archive.open(info) as reader:
                self._file(path, iter(lambda: reader.read(CHUNK), b""), mode, mtime)

    def _place(self, name: str) -> str | None:
        """Where entry `name` goes beneath the root, counted; None for the archive's own folder."""
        self.entries += 1
        if self.entries > self.max_entries:
            raise TooLarge("the archive has more than {limit} entries", limit=self.max_entries)
        parts = name.split("/")
        if "\0" in name or name.startswith("/") or ".." in parts:
            raise BadRequest("the archive's entry {entry!r} would land outside its folder", entry=name)
        return self._beneath(name)

    def _beneath(self, name: str) -> str | None:
        relative = "/".join(part for part in name.split("/") if part not in ("", "."))
        if not relative:
            return None
        return f"{self.dest}/{relative}" if self.dest else relative

    def _open_parent(self, path: str) -> tuple[int, str]:
        parent, name = beneath.split(path)
        return beneath.make_folders(self.root_fd, parent, self.made), name

    def _folder(self, path: str, mode: int, mtime: float) -> None:
        os.close(beneath.make_folders(self.root_fd, path, self.made))
        self.folders.append((path, mode, mtime))
        self.files += 1

    def _file(self, path: str, chunks: Iterator[bytes], mode: int, mtime: float) -> None:
        parent_fd, name = self._open_parent(path)
        try:
            existed = _exists(parent_fd, name)
            with NewFile(parent_fd, name, mode) as new:
                for chunk in chunks:
                    if self.bytes + len(chunk) > self.max_bytes:
                        raise TooLarge("the archive holds more than {limit} bytes", limit=self.max_bytes)
                    new.write(chunk)
                    self.bytes += len(chunk)
                os.fchmod(new.fd, mode)
                os.utime(new.fd, (mtime, mtime))
                new.commit(durable=False)
        finally:
            os.close(parent_fd)
        if not existed:
            self.made.append(path)
        self.written.add(path)
        self.files += 1

    def _symlink(self, entry: str, path: str, target: str) -> None:
        if "\0" in target or len(os.fsencode(target)) > MAX_LINK_BYTES:
            raise BadRequest("the archive's entry {entry!r} is a link to no valid target", entry=entry)
        self._link(path, lambda parent_fd, part: os.symlink(target, part, dir_fd=parent_fd))

    def _hard_link(self, entry: str, path: str, target: str) -> None:
        climbs = "\0" in target or target.startswith("/") or ".." in target.split("/")
        source = None if climbs else self._beneath(target)
        if source is None or source not in self.written:
            raise BadRequest(
                "the archive's entry {entry!r} is a hard link to {target!r}, which it did not extract before",
                entry=entry,
                target=target,
            )
        source_fd, source_name = self._open_parent(source)
        try:
            self._link(
                path,
                lambda parent_fd, part: os.link(
                    source_name, part, src_dir_fd=source_fd, dst_dir_fd=parent_fd, follow_symlinks=False
                ),
            )
        finally:
            os.close(source_fd)

    def _link(self, path: str, make) -> None:
        """Make a link under a temporary name with `make(parent_fd, name)`, then rename it into place."""
        parent_fd, name = self._open_parent(path)
        part = f"{PART_PREFIX}{secrets.token_hex(8)}"
        try:
            existed = _exists(parent_fd, name)
            make(parent_fd, part)
            try:
                os.rename(part, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
            except BaseException:
                os.unlink(part, dir_fd=parent_fd)
                raise
        finally:
            os.close(parent_fd)
        if not existed:
            self.made.append(path)
        self.files += 1

    def _set_folder(self, path: str, mode: int, mtime: float) -> None:
        try:
            fd = beneath.open_beneath(self.root_fd, path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return  # replaced by a link or a file by a later entry: that one stays as it is
        try:
            os.fchmod(fd, mode)
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def roll_back(self) -> None:
        """Remove what this extraction created, the latest first (a folder only once it is empty)."""
        for path in reversed(self.made):
            parent, name = beneath.split(path)
            try:
                parent_fd = beneath.open_beneath(self.root_fd, parent, os.O_PATH | os.O_DIRECTORY)
            except Exception:
                continue
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
                    os.rmdir(name, dir_fd=parent_fd)
                else:
                    os.unlink(name, dir_fd=parent_fd)
            except OSError as exc:
                log.warning("rolling back an extraction, %s stays: %s", path, exc)
            finally:
                os.close(parent_fd)


def unreadable(exc: Exception) -> BadRequest:
    return BadRequest("the archive is not a tar, tar.gz or zip that can be read: {reason}", reason=exc)


def _exists(parent_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
