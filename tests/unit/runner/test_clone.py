"""runner/clone.py: real git clones a local repository into a folder that holds lost+found: the default
branch, a branch, a tag, a commit; what fails or is cancelled leaves the folder as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from runner import clone as cloning
from runner.clone import Progress, Repository, clone, progress_update
from runner.errors import CloneFailed, InvalidRequest
from tests.unit.runner.conftest import git


class Events(list):
    async def __call__(self, sub_type: str, payload: dict[str, Any]) -> None:
        self.append((sub_type, payload))


@pytest.fixture
def folder(tmp_path) -> Path:
    """A new volume's folder: empty but for lost+found."""
    (tmp_path / "project" / "lost+found").mkdir(parents=True)
    (tmp_path / "project" / "lost+found" / "#1234").write_text("recovered")
    return tmp_path / "project"


def left(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_no_ref_checks_out_the_default_branch_tracking_it(origin, folder):
    events = Events()
    await clone(Repository(origin.url), folder, events)

    assert (folder / "README.md").read_text() == "second\n"
    assert git(folder, "rev-parse", "--abbrev-ref", "HEAD", "@{upstream}").split() == ["main", "origin/main"]
    assert git(folder, "rev-parse", "refs/rcoder/base") == origin.second
    assert git(folder, "rev-parse", "--abbrev-ref", "origin/HEAD") == "origin/main"
    assert git(folder, "status", "--porcelain") == "", "lost+found is out of git's sight"
    assert events[-1] == ("git_clone_end", {"commit": origin.second, "ref": "main"})
    progress = [payload for sub_type, payload in events if sub_type == "git_clone"]
    assert progress and all(set(p) >= {"phase", "percent"} for p in progress)
    assert (folder / "lost+found" / "#1234").read_text() == "recovered"


async def test_a_branch_is_checked_out_tracking_it(origin, folder):
    events = Events()
    await clone(Repository(origin.url, "feature"), folder, events)

    assert git(folder, "rev-parse", "--abbrev-ref", "HEAD", "@{upstream}").split() == [
        "feature",
        "origin/feature",
    ]
    assert (folder / "feature.txt").exists()
    assert events[-1] == ("git_clone_end", {"commit": origin.feature, "ref": "feature"})


async def test_a_tag_is_checked_out_detached(origin, folder):
    events = Events()
    await clone(Repository(origin.url, "v1"), folder, events)

    assert git(folder, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD", "detached"
    assert git(folder, "rev-parse", "HEAD", "refs/rcoder/base").split() == [origin.first] * 2
    assert events[-1] == ("git_clone_end", {"commit": origin.first, "ref": "v1"})


async def test_a_commit_with_a_depth_is_a_shallow_detached_checkout(origin, folder):
    events = Events()
    await clone(Repository(origin.url, origin.first, depth=1), folder, events)

    assert git(folder, "rev-parse", "HEAD") == origin.first
    assert git(folder, "rev-parse", "--is-shallow-repository") == "true"
    assert (folder / "README.md").read_text() == "first\n"
    assert events[-1] == ("git_clone_end", {"commit": origin.first, "ref": origin.first})


async def test_a_bad_ref_fails_with_gits_words_and_leaves_only_lost_found(origin, folder):
    with pytest.raises(CloneFailed) as failed:
        await clone(Repository(origin.url, "nope"), folder, Events())

    assert str(failed.value) == "the repository could not be cloned: couldn't find remote ref nope"
    assert left(folder) == ["lost+found"]
    assert (folder / "lost+found" / "#1234").exists()


async def test_a_repository_without_commits_is_left_initialised(tmp_path, folder):
    bare = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    events = Events()

    await clone(Repository(bare.as_uri()), folder, events)

    assert events == [("git_clone_end", {"commit": None, "ref": None})]
    assert git(folder, "remote", "get-url", "origin") == bare.as_uri()


async def test_a_folder_with_anything_but_lost_found_is_refused_and_kept(origin, folder):
    (folder / "notes.txt").write_text("mine")

    with pytest.raises(CloneFailed, match="not empty"):
        await clone(Repository(origin.url), folder, Events())

    assert left(folder) == ["lost+found", "notes.txt"]


class Silent:
    """An HTTP server that accepts and never answers; it notes when each client goes away."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.gone = asyncio.Event()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.hold, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/acme/app.git"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connected.set()
        await reader.read()  # until git is gone
        self.gone.set()
        writer.close()


async def test_a_cancel_kills_git_and_empties_the_folder(folder):
    silent = Silent()
    async with silent as url:
        cloning_task = asyncio.create_task(clone(Repository(url), folder, Events()))
        await asyncio.wait_for(silent.connected.wait(), 10)
        assert (folder / ".git").is_dir()

        cloning_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cloning_task
        await asyncio.wait_for(silent.gone.wait(), 5)  # git's connection closed: its process is gone

    assert left(folder) == ["lost+found"]


async def test_a_clone_that_takes_too_long_fails_and_empties_the_folder(folder, monkeypatch):
    monkeypatch.setattr(cloning, "TIMEOUT", 0.5)
    async with Silent() as url:
        with pytest.raises(CloneFailed, match=r"could not be cloned within 0\.5 s"):
            await clone(Repository(url), folder, Events())

    assert left(folder) == ["lost+found"]


CANNED = (
    b"remote: Enumerating objects: 120, done.\n"
    b"remote: Counting objects:  50% (60/120)\rremote: Counting objects: 100% (120/120), done.\n"
    b"Receiving objects:  45% (54/120), 1.50 MiB | 3.00 MiB/s\r"
    b"Receiving objects: 100% (120/120), 3.25 MiB | 3.00 MiB/s, done.\n"
    b"Resolving deltas:   0% (0/40)\rResolving deltas: 100% (40/40), done.\n"
    b"fatal: the remote end hung up unexpectedly\n"
)


async def read(chunks: list[bytes], interval: float) -> tuple[Events, Progress]:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    events = Events()
    progress = Progress(events, interval)
    await progress.read(reader)
    return events, progress


async def test_gits_progress_becomes_events_and_its_last_words_are_kept():
    # Split mid-line, as a pipe may deliver it.
    events, progress = await read([CANNED[:70], CANNED[70:]], interval=0)

    assert [payload for _, payload in events] == [
        {"phase": "enumerating objects", "percent": None},
        {"phase": "counting objects", "percent": 50},
        {"phase": "counting objects", "percent": 100},
        {"phase": "receiving objects", "percent": 45, "received_bytes": int(1.5 * 2**20)},
        {"phase": "receiving objects", "percent": 100, "received_bytes": int(3.25 * 2**20)},
        {"phase": "resolving deltas", "percent": 0},
        {"phase": "resolving deltas", "percent": 100},
    ]
    assert {sub_type for sub_type, _ in events} == {"git_clone"}
    assert progress.last_words == "the remote end hung up unexpectedly"


async def test_progress_is_sent_at_most_once_an_interval():
    events, _ = await read([CANNED], interval=60)
    assert [payload["phase"] for _, payload in events] == ["enumerating objects"]


@pytest.mark.parametrize(
    "line",
    [
        "From file:///tmp/app",
        "hint: Using 'master' as the name",
        " * branch  main -> FETCH_HEAD",
        "Total 3 (delta 0)",
    ],
)
def test_other_lines_are_not_progress(line):
    assert progress_update(line) is None


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        ("-uhello", ""),
        ("https://h/a b", ""),
        ("github.com/a/b", ""),
        ("https://h/a", "-b"),
        ("https://h/a", "a:b"),
        ("https://h/a", "a..b"),
        ("https://h/a", "+main"),
    ],
)
def test_a_url_or_ref_git_could_misread_is_refused(url, ref):
    with pytest.raises(InvalidRequest):
        Repository(url, ref)
