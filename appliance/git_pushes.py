"""What a push through the git broker may change: which repositories (`git.push_repositories`: globs over
"host/path", or "cloned", the project's own), which branches (`git.push_branches`) and whether tags
(`git.push_tags`). The ref updates are read from the head of git's receive-pack request, the pkt-lines
before the first flush (gitprotocol-pack(5)): `<old> <new> <ref>`, the first with capabilities after a
NUL; `shallow <oid>` lines may come first. A push certificate is refused (it would hide the commands).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from appliance.config import GitConfig
from appliance.errors import Forbidden

# The most of a request's head read for its commands; beyond, the push is refused.
MAX_COMMANDS_BYTES = 64 * 1024


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


class Incomplete(Exception):
    """More of the request is needed before its commands end."""


def read_commands(head: bytes) -> tuple[list[RefUpdate], int]:
    """The ref updates at the start of a receive-pack request, and how many bytes they take (up to and
    including the flush); Incomplete when `head` ends before the flush."""
    updates, offset = [], 0
    while True:
        if len(head) < offset + 4:
            raise Incomplete
        size = int(head[offset : offset + 4], 16)
        if size == 0:
            return updates, offset + 4
        if size < 4 or len(head) < offset + size:
            if size < 4:
                raise Forbidden("the push's commands are malformed")
            raise Incomplete
        line = head[offset + 4 : offset + size].split(b"\0", 1)[0].rstrip(b"\n").decode("utf-8", "replace")
        offset += size
        if line.startswith("shallow "):
            continue
        if line.startswith("push-cert"):
            raise Forbidden("signed pushes (push certificates) do not pass the git broker")
        parts = line.split(" ")
        if len(parts) != 3:
            raise Forbidden("the push's commands are malformed")
        updates.append(RefUpdate(*parts))


@dataclass(frozen=True)
class PushPolicy:
    config: GitConfig

    def check_repository(self, repository: str, cloned: str | None) -> None:
        """May the project push to `repository` ("host/path")?"""
        for pattern in self.config.repositories:
            if pattern == "cloned":
                if cloned is not None and repository == cloned:
                    return
            elif fnmatch.fnmatchcase(repository, pattern.removesuffix(".git")):
                return
        raise Forbidden(
            "this project may not push to {repository} (git.push_repositories: {allowed})",
            repository=repository,
            allowed=self.config.push_repositories,
        )

    def check_updates(self, updates: list[RefUpdate]) -> None:
        for update in updates:
            if update.ref.startswith("refs/tags/"):
                if not self.config.push_tags:
                    raise Forbidden("this project may not push tags ({ref})", ref=update.ref)
                continue
            branch = update.ref.removeprefix("refs/heads/")
            if branch == update.ref:
                raise Forbidden("a push may change branches and tags only, not {ref}", ref=update.ref)
            if not any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.config.branches):
                raise Forbidden(
                    "this project may not push to branch {branch} (git.push_branches: {allowed})",
                    branch=branch,
                    allowed=self.config.push_branches,
                )
