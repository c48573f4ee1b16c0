"""runner/git_access.py: the config it writes is what real git reads: the broker takes the place of the
hosts, every request to it carries the stand-in, no credential helper runs, and odd values stay values."""

from __future__ import annotations

import asyncio
import http.server
import os
import stat
import subprocess
import threading

import pytest

from runner.errors import InvalidRequest
from runner.git_access import GitAccess, GitRoute, config_text, write_config

BASE = "http://127.0.0.1:{port}/rcoder-git/"
STAND_IN = "rcoder-git-o.abc123.def456"


def access(port: int = 8090, **changes) -> GitAccess:
    base = BASE.format(port=port)
    fields = {
        "broker_base": base,
        "stand_in": STAND_IN,
        "routes": (GitRoute("https://github.com/", base + "https/github.com/"),),
        "author_name": "RCoder",
        "author_email": "rcoder@example.com",
    }
    return GitAccess(**{**fields, **changes})


def git(config, *args: str) -> str:
    """Real git, reading `config` as its system config and nothing else."""
    env = {
        **os.environ,
        "GIT_CONFIG_SYSTEM": str(config),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }
    done = subprocess.run(["git", *args], env=env, capture_output=True, text=True, timeout=20, check=False)
    return done.stdout + done.stderr


def test_git_reads_the_routes_the_header_the_author_and_no_helper(tmp_path):
    path = write_config(access(), tmp_path / "rcoder-git" / "config")

    listed = git(path, "config", "--system", "--list").splitlines()

    assert listed == [
        "url.http://127.0.0.1:8090/rcoder-git/https/github.com/.insteadof=https://github.com/",
        f"http.http://127.0.0.1:8090/rcoder-git/.extraheader=Authorization: Bearer {STAND_IN}",
        "user.name=RCoder",
        "user.email=rcoder@example.com",
        "credential.helper=",
    ]
    header = git(
        path, "config", "--get-urlmatch", "http.extraHeader", BASE.format(port=8090) + "https/x/y.git"
    )
    assert header.strip() == f"Authorization: Bearer {STAND_IN}"
    assert git(path, "config", "--get-urlmatch", "http.extraHeader", "https://github.com/x/y.git") == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


async def test_git_asks_the_broker_with_the_stand_in_for_a_routed_host(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = write_config(access(server.server_port), tmp_path / "config")
        output = await asyncio.to_thread(git, path, "ls-remote", "https://github.com/acme/app.git")
    finally:
        server.shutdown()

    assert Recorder.seen[0] == (
        "/rcoder-git/https/github.com/acme/app.git/info/refs?service=git-upload-pack",
        f"Bearer {STAND_IN}",
    )
    assert "github.com" not in output.replace("/https/github.com/", ""), "git named only the broker"


def test_quotes_backslashes_and_comment_marks_stay_part_of_a_value(tmp_path):
    name = 'Ann "the \\ coder" ; # not a comment'
    path = write_config(access(author_name=name), tmp_path / "config")

    assert git(path, "config", "--system", "user.name").rstrip("\n") == name


def test_the_same_access_again_leaves_the_file_and_another_replaces_it(tmp_path):
    path = tmp_path / "config"
    write_config(access(), path)
    before = path.stat().st_mtime_ns, path.stat().st_ino

    write_config(access(), path)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before

    write_config(access(routes=(), author_name="", author_email=""), path)
    assert path.stat().st_ino != before[1], "a new file took the old one's place"
    assert "insteadOf" not in path.read_text() and "[user]" not in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["config"], "no temporary file is left behind"


def test_no_access_at_all_still_turns_credential_helpers_off():
    assert config_text(GitAccess()) == '[credential]\n\thelper = ""\n'


@pytest.mark.parametrize(
    "changes",
    [
        {"author_name": "Ann\n[core]\n\tfsmonitor = evil"},
        {"author_email": "a@b\x00"},
        {"stand_in": 'x"\n[core]'},
        {"stand_in": "two words"},
        {"stand_in": ""},
        {"broker_base": 'http://h/rcoder-git/"x'},
        {"broker_base": "file:///tmp/"},
        {"routes": (GitRoute("https://github.com/", "http://elsewhere/rcoder-git/https/github.com/"),)},
        {"routes": (GitRoute("", BASE.format(port=8090) + "https/github.com/"),)},
        {"routes": (GitRoute("https://a/\n[core]", BASE.format(port=8090) + "https/a/"),)},
    ],
    ids=[
        "newline-in-name",
        "nul-in-email",
        "quote-in-stand-in",
        "space-in-stand-in",
        "stand-in-missing",
        "quote-in-base",
        "not-http",
        "route-off-the-broker",
        "empty-prefix",
        "newline-in-prefix",
    ],
)
def test_an_access_that_could_say_more_than_it_means_is_refused(tmp_path, changes):
    with pytest.raises(InvalidRequest):
        write_config(access(**changes), tmp_path / "config")
    assert not (tmp_path / "config").exists()
