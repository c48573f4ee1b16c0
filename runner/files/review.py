"""What the agent changed in a project's repository, for a person to review: `git status` and the diff
against the commit the project was cloned at (refs/rcoder/base, set by runner/clone.py), untracked
files included. Run in the files container, so it works on paused and removed projects too.

git runs with no hooks, pager, external diff, text conversion or fsmonitor, no system or global
config, and no optional locks: what the repository's own config names is never run, and the agent's
index is never touched (the untracked files are added to a copy of it, in /tmp).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from runner.files import beneath
from runner.files.errors import FilesError, NotFound

GIT = [
    "git",
    "-c", "core.fsmonitor=",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.pager=cat",
    "-c", "diff.external=",
    "-c", "safe.directory=*",
]  # fmt: skip
ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_TERMINAL_PROMPT": "0",
}
BASE = "refs/rcoder/base"
TIMEOUT_SECONDS = 30
# A diff is cut here (the reply says so in X-Rcoder-Truncated).
MAX_DIFF_BYTES = 5 * 1024 * 1024
# Porcelain v2's change kinds: the index's letter, then the worktree's.
KINDS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type changed"}


class GitFailed(FilesError):
    status = 500
    code = "GIT_ERROR"


def _git(root_fd: int, *args: str, index: str | None = None) -> bytes:
    environment = dict(ENVIRONMENT)
    if index is not None:
        environment["GIT_INDEX_FILE"] = index
    try:
        done = subprocess.run(
            [*GIT, *args],
            cwd=f"/proc/self/fd/{root_fd}",
            env=environment,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitFailed(
            "git {command} took longer than {seconds} s", command=args[0], seconds=TIMEOUT_SECONDS
        ) from None
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
        raise GitFailed("git {command} failed: {detail}", command=args[0], detail=last)
    return done.stdout


def _require_repository(root_fd: int) -> None:
    try:
        os.close(beneath.open_beneath(root_fd, ".git", os.O_PATH | os.O_DIRECTORY))
    except (FileNotFoundError, NotADirectoryError, FilesError):
        raise NotFound("this project's folder is not a git repository") from None


def _revision(root_fd: int, name: str) -> str | None:
    try:
        return _git(root_fd, "rev-parse", "--verify", "-q", name).decode().strip() or None
    except GitFailed:
        return None


def status(root_fd: int) -> dict[str, Any]:
    """The branch, its head and upstream, how far it is from the cloned commit, and each changed file."""
    _require_repository(root_fd)
    out = _git(root_fd, "status", "--porcelain=v2", "--branch", "--untracked-files=all", "-z")
    head = branch = upstream = None
    ahead = behind = 0
    files = []
    records = iter(out.decode("utf-8", "surrogateescape").split("\0"))
    for record in records:
        if record.startswith("# branch.oid "):
            head = None if record.endswith("(initial)") else record.split()[-1]
        elif record.startswith("# branch.head "):
            branch = None if record.endswith("(detached)") else record.split(" ", 2)[2]
        elif record.startswith("# branch.upstream "):
            upstream = record.split(" ", 2)[2]
        elif record.startswith("# branch.ab "):
            plus, minus = record.split()[2:4]
            ahead, behind = int(plus), -int(minus)
        elif record.startswith(("1 ", "2 ")):
            fields = record.split(" ", 8 if record[0] == "1" else 9)
            change = fields[1]
            letter = change[0] if change[0] != "." else change[1]
            files.append(
                {"path": fields[-1], "status": KINDS.get(letter, "modified"), "staged": change[0] != "."}
            )
            if record[0] == "2":
                files[-1]["from"] = next(records, "")
        elif record.startswith("u "):
            files.append({"path": record.split(" ", 10)[-1], "status": "conflicted", "staged": False})
        elif record.startswith("? "):
            files.append({"path": record[2:], "status": "untracked", "staged": False})
    base = _revision(root_fd, BASE)
    since_base = 0
    if base and head:
        since_base = int(_git(root_fd, "rev-list", "--count", f"{BASE}..HEAD").decode().strip() or 0)
    return {
        "branch": branch,
        "head": head,
        "upstream": upstream,
        "ahead": ahead,
        "behind": behind,
        "base": base,
        "commits_since_base": since_base,
        "files": files,
    }


def diff(root_fd: int) -> tuple[bytes, bool]:
    """The diff of the working tree against the cloned commit (or HEAD), untracked files included; and
    whether it was cut at MAX_DIFF_BYTES."""
    _require_repository(root_fd)
    against = BASE if _revision(root_fd, BASE) else "HEAD" if _revision(root_fd, "HEAD") else None
    with tempfile.TemporaryDirectory(prefix="rcoder-review-") as scratch:
        index = os.path.join(scratch, "index")
        _copy_index(root_fd, index)
        _git(root_fd, "add", "--intent-to-add", "--all", ".", index=index)
        args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color"]
        if against is None:
            args.append("--cached")  # an empty repository: everything added is new
        else:
            args.append(against)
        out = _git(root_fd, *args, index=index)
    return out[:MAX_DIFF_BYTES], len(out) > MAX_DIFF_BYTES


def _copy_index(root_fd: int, to: str) -> None:
    """The agent's index, read beneath the root (a link there is not followed out), copied to `to`."""
    try:
        fd = beneath.open_beneath(root_fd, ".git/index", os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, FilesError):
        return  # no index yet: git starts an empty one
    with os.fdopen(fd, "rb") as source, open(to, "wb") as target:
        shutil.copyfileobj(source, target)
