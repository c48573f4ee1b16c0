"""appliance/git_pushes.py: the ref updates a push carries, and what the push policy lets through."""

from __future__ import annotations

import pytest

from appliance.config import GitConfig
from appliance.errors import Forbidden
from appliance.git_pushes import Incomplete, PushPolicy, RefUpdate, read_commands

OLD, NEW = "a" * 40, "b" * 40


def pkt(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


def push(*lines: str) -> bytes:
    return b"".join(pkt(line) for line in lines) + b"0000" + b"PACK..."


def test_the_commands_are_read_up_to_the_flush_capabilities_and_shallow_lines_aside():
    body = push(
        f"shallow {OLD}",
        f"{OLD} {NEW} refs/heads/main\0report-status side-band-64k",
        f"{OLD} {NEW} refs/tags/v1\n",
    )

    updates, consumed = read_commands(body)

    assert updates == [RefUpdate(OLD, NEW, "refs/heads/main"), RefUpdate(OLD, NEW, "refs/tags/v1")]
    assert body[consumed:] == b"PACK..."


def test_a_head_cut_before_the_flush_asks_for_more_and_a_push_certificate_is_refused():
    body = push(f"{OLD} {NEW} refs/heads/main")
    for cut in (2, 10, len(body) - len(b"0000PACK...")):
        with pytest.raises(Incomplete):
            read_commands(body[:cut])
    with pytest.raises(Forbidden, match="certificates"):
        read_commands(push("push-cert\0report-status"))
    with pytest.raises(Forbidden, match="malformed"):
        read_commands(b"0003")


@pytest.mark.parametrize(
    ("ref", "allowed"),
    [
        ("refs/heads/rcoder/fix-1", True),
        ("refs/heads/main", False),
        ("refs/tags/v1", False),
        ("refs/notes/commits", False),
    ],
)
def test_branches_match_the_globs_tags_need_permission_and_other_refs_never_pass(ref, allowed):
    policy = PushPolicy(GitConfig(push_branches="rcoder/*"))
    if allowed:
        policy.check_updates([RefUpdate(OLD, NEW, ref)])
    else:
        with pytest.raises(Forbidden):
            policy.check_updates([RefUpdate(OLD, NEW, ref)])
    PushPolicy(GitConfig(push_tags=True)).check_updates([RefUpdate(OLD, NEW, "refs/tags/v1")])


def test_a_project_pushes_to_its_own_repository_or_where_the_globs_say():
    cloned = PushPolicy(GitConfig())
    cloned.check_repository("git.local:8000/acme/app", "git.local:8000/acme/app")
    with pytest.raises(Forbidden, match=r"may not push to git\.local:8000/acme/other"):
        cloned.check_repository("git.local:8000/acme/other", "git.local:8000/acme/app")
    with pytest.raises(Forbidden):
        cloned.check_repository("git.local:8000/acme/app", None)
    globbed = PushPolicy(GitConfig(push_repositories="github.com/acme/*, cloned"))
    globbed.check_repository("github.com/acme/anything", None)
