"""A repository cloned into a project's new folder, the phase of a turn before its prompt, with git's
progress as the turn's events.

`git clone` wants an empty folder, and a volume's holds lost+found, so the clone is `git init`, a remote,
a fetch of one ref and a checkout:
- no ref: the remote's default branch (`ls-remote --symref origin HEAD`), checked out tracking it, as is
  any branch; a repository without commits is left initialised, nothing checked out;
- a tag, a commit id or any other ref: fetched and checked out detached.

Its events (session updates, like an agent's):
- `git_clone` {phase, percent, received_bytes?}: a line of git's progress ("receiving objects", 45;
  percent is null where git counts without one), at most one per PROGRESS_INTERVAL;
- `git_clone_end` {commit, ref}: the commit checked out and the branch, tag or id it came by (both null
  for a repository without commits).

`refs/rcoder/base` marks the commit cloned: what a review compares the agent's work with. A failure (or
the clone taking longer than TIMEOUT seconds) raises CloneFailed, which ends the turn with `error`; a cancel
kills git's process group. Either way the folder is emptied of what the clone made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import CloneFailed, InvalidRequest

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]

CLONE = "git_clone"
CLONE_END = "git_clone_end"
KEEP = "lost+found"  # an ext4 volume's, there before the clone and after it
TIMEOUT = 600.0
PROGRESS_INTERVAL = 0.1
CLONE_FAILED = "the repository could not be cloned: {error}"
CLONE_TIMED_OUT = "the repository could not be cloned within {seconds:g} s"
FOLDER_NOT_EMPTY = "the project's folder is not empty: a repository is cloned only into a new project"

URL = re.compile(r"[A-Za-z][\w+.-]*://[^\s\x00-\x1f\x7f]+")
# A branch, a tag or a commit id; nothing git would read as an option or a refspec.
REF = re.compile(r"\w[\w./@-]*")
# "Receiving objects:  45% (45/100), 1.20 MiB | 2.00 MiB/s", "remote: Counting objects: 5, done."
PHASE = re.compile(r"(?:remote: )?([A-Z][a-z]+(?: [a-z]+)+):\s+(.*)")
PERCENT = re.compile(r"(\d{1,3})% \(")
RECEIVED = re.compile(r", (\d+(?:\.\d+)?) (bytes?|KiB|MiB|GiB|TiB) \|")
UNITS = {"byte": 1, "bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


@dataclass(frozen=True)
class Repository:
    """What a chat asks to clone (the URL policy is the gateway's; these only keep git's syntax)."""

    url: str
    ref: str = ""
    depth: int = 0

    def __post_init__(self) -> None:
        if not URL.fullmatch(self.url):
            raise InvalidRequest("repository.url must be a URL, not {url!r}", url=self.url)
        if self.ref and (not REF.fullmatch(self.ref) or ".." in self.ref):
            raise InvalidRequest(
                "repository.ref must be a branch, a tag or a commit id, not {ref!r}", ref=self.ref
            )


def progress_update(line: str) -> dict[str, Any] | None:
    """A `git_clone` event's payload for a line of git's progress; None for any other line."""
    match = PHASE.fullmatch(line.strip())
    if match is None:
        return None
    percent = PERCENT.search(match[2])
    update: dict[str, Any] = {"phase": match[1].lower(), "percent": int(percent[1]) if percent else None}
    if received := RECEIVED.search(match[2]):
        update["received_bytes"] = int(float(received[1]) * UNITS[received[2]])
    return update


class Progress:
    """git's stderr, line by line: progress becomes `git_clone` events (one per interval at most, the
    lines between dropped), and the last other line is kept to say why git failed."""

    def __init__(self, emit: Emit, interval: float = PROGRESS_INTERVAL) -> None:
        self.emit = emit
        self.interval = interval
        self.sent_at = float("-inf")
        self.last_words = ""

    async def line(self, line: str) -> None:
        update = progress_update(line)
        if update is None:
            if line.strip():
                self.last_words = line.strip().removeprefix("fatal: ").removeprefix("error: ")
            return
        if (now := time.monotonic()) - self.sent_at >= self.interval:
            self.sent_at = now
            await self.emit(CLONE, update)

    async def read(self, stream: asyncio.StreamReader) -> None:
        """Each line of `stream`; git ends a progress line with \\r to write the next over it."""
        pending = b""
        while chunk := await stream.read(65536):
            *lines, pending = re.split(rb"[\r\n]", pending + chunk)
            for line in lines:
                await self.line(line.decode(errors="replace"))
        await self.line(pending.decode(errors="replace"))


class Git:
    """git in the project's folder: never asking for a password, in English, its progress followed."""

    def __init__(self, folder: Path, progress: Progress) -> None:
        self.folder = folder
        self.progress = progress

    async def __call__(self, *args: str) -> str:
        """git's output; CloneFailed with git's last words when it fails."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "", "LC_ALL": "C"}
        self.progress.last_words = ""
        try:
            process = await asyncio.create_subprocess_exec(
                *("git", "-c", "credential.helper=", *args),
                cwd=self.folder,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # a group of its own, so that a cancel ends its helpers too
            )
        except OSError as exc:
            raise CloneFailed(CLONE_FAILED, error=exc) from exc
        assert process.stdout is not None and process.stderr is not None
        try:
            output, _ = await asyncio.gather(process.stdout.read(), self.progress.read(process.stderr))
            status = await process.wait()
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if status != 0:
            raise CloneFailed(
                CLONE_FAILED, error=self.progress.last_words or f"git {args[0]} exited with {status}"
            )
        return output.decode(errors="replace")


async def clone(repository: Repository, folder: Path, emit: Emit) -> None:
    """Clone `repository` into `folder`, which must be empty but for lost+found; `emit` its events."""
    if not await asyncio.to_thread(is_new, folder):
        raise CloneFailed(FOLDER_NOT_EMPTY)
    git = Git(folder, Progress(emit))
    try:
        async with asyncio.timeout(TIMEOUT):
            commit, ref = await checkout(git, repository)
    except TimeoutError:
        await asyncio.to_thread(empty, folder)
        raise CloneFailed(CLONE_TIMED_OUT, seconds=TIMEOUT) from None
    except BaseException:  # a failure, or a cancel: nothing of the clone stays
        await asyncio.to_thread(empty, folder)
        raise
    await emit(CLONE_END, {"commit": commit, "ref": ref})


async def checkout(git: Git, repository: Repository) -> tuple[str | None, str | None]:
    """The commit checked out, and the ref it came by."""
    await git("init", "-q")
    await git("remote", "add", "origin", repository.url)
    await asyncio.to_thread(exclude_kept, git.folder)
    depth = ("--depth", str(repository.depth)) if repository.depth else ()
    kind, ref = await resolve(git, repository.ref)
    if kind == "empty":
        return None, None
    if kind == "branch":
        await git("fetch", "--progress", *depth, "origin", f"+refs/heads/{ref}:refs/remotes/origin/{ref}")
        await git("checkout", "-q", "--progress", "-B", ref, f"origin/{ref}", "--")
        if not repository.ref:
            await git("symbolic-ref", "refs/remotes/origin/HEAD", f"refs/remotes/origin/{ref}")
    else:
        await git(
            "fetch",
            "--progress",
            *depth,
            "origin",
            f"+refs/tags/{ref}:refs/tags/{ref}" if kind == "tag" else ref,
        )
        await git("checkout", "-q", "--progress", "--detach", "FETCH_HEAD", "--")
    await git("update-ref", "refs/rcoder/base", "HEAD")
    return (await git("rev-parse", "HEAD")).strip(), ref


async def resolve(git: Git, ref: str) -> tuple[str, str]:
    """What `ref` is on the remote: ("branch" | "tag" | "commit", ref); no ref: the default branch, or
    ("empty", "") when the repository has no commits."""
    if not ref:
        listed = await git("ls-remote", "--symref", "origin", "HEAD")
        for line in listed.splitlines():
            target, _, name = line.partition("\t")
            if name == "HEAD" and target.startswith("ref: refs/heads/"):
                return "branch", target.removeprefix("ref: refs/heads/")
            if name == "HEAD":
                return "commit", target  # a server that does not say which branch HEAD is
        return "empty", ""
    listed = await git("ls-remote", "origin", f"refs/heads/{ref}", f"refs/tags/{ref}")
    names = {line.partition("\t")[2] for line in listed.splitlines()}
    if f"refs/heads/{ref}" in names:
        return "branch", ref
    return ("tag" if f"refs/tags/{ref}" in names else "commit"), ref


def is_new(folder: Path) -> bool:
    """Make `folder` if it is not there; whether it holds nothing but lost+found."""
    folder.mkdir(parents=True, exist_ok=True)
    return all(entry.name == KEEP for entry in folder.iterdir())


def exclude_kept(folder: Path) -> None:
    """Keep lost+found out of git's sight (status, add -A)."""
    info = folder / ".git" / "info"
    info.mkdir(exist_ok=True)
    with (info / "exclude").open("a") as exclude:
        exclude.write(f"/{KEEP}/\n")


def empty(folder: Path) -> None:
    """Remove everything in `folder` but lost+found, following no symbolic link."""
    for entry in os.scandir(folder):
        if entry.name == KEEP:
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
