"""runner/image_probe.py: which C library an image's programs use, and whom its agents run as."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.image_probe import account, libc

PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
vscode:x:1000:1000::/home/vscode:/bin/bash
builder:x:1500:1600::/srv/builder:/bin/sh
"""


@pytest.mark.parametrize(
    ("loader", "expected"),
    [
        ("lib64/ld-linux-x86-64.so.2", "glibc"),
        ("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "glibc"),
        ("lib/ld-musl-x86_64.so.1", "musl"),
        (None, "none"),
    ],
)
def test_the_loader_names_the_c_library(tmp_path: Path, loader, expected):
    if loader:
        (tmp_path / loader).parent.mkdir(parents=True)
        (tmp_path / loader).touch()
    assert libc(tmp_path) == expected


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("vscode", {"uid": 1000, "gid": 1000, "home": "/home/vscode", "user": "vscode"}),
        ("1500", {"uid": 1500, "gid": 1600, "home": "/srv/builder", "user": "1500"}),
        ("builder:42", {"uid": 1500, "gid": 42, "home": "/srv/builder", "user": "builder"}),
        ("2000:3000", {"uid": 2000, "gid": 3000, "home": "/home/agent", "user": "2000"}),
    ],
)
def test_an_image_user_is_found_in_its_passwd(user, expected):
    assert account(user, PASSWD) == expected


@pytest.mark.parametrize("user", ["", "root", "0", "0:0"])
def test_root_or_no_user_runs_agents_as_ours(user):
    assert account(user, PASSWD) == {"uid": 1000, "gid": 1000, "home": "/home/agent", "user": "agent"}


def test_a_user_the_image_does_not_know_is_an_error():
    with pytest.raises(SystemExit, match="'ghost' is not in its /etc/passwd"):
        account("ghost", PASSWD)
