"""rcoder/files.py and rcoder/archives.py against a stand-in for the files API (files_server.py):
paging, Range reads, a cut download picked up where it broke, uploads streamed from disk, and the
appliance's refusals as typed errors."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rcoder import Appliance, errors
from rcoder.files import ProjectFiles
from tests.unit.rcoder.files_server import FilesState, serving

MIB = 1 << 20


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, FilesState]]:
    with serving(tmp_path / "workspace") as served:
        yield served


@pytest.fixture
def state(server) -> FilesState:
    return server[1]


@pytest.fixture
async def files(server) -> AsyncIterator[ProjectFiles]:
    async with Appliance(server[0], "key") as appliance:
        yield appliance.project("p1").files


def sparse(path: Path, size: int, tail: bytes = b"the end") -> Path:
    """A file of `size` bytes that takes no room: zeros, then `tail`."""
    with path.open("wb") as file:
        file.truncate(size - len(tail))
        file.seek(size - len(tail))
        file.write(tail)
    return path


def digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


async def test_a_folder_is_listed_page_after_page(files, state):
    for name in ("a.txt", "b.txt", "c.txt"):
        (state.root / name).write_text(name)
    (state.root / "src").mkdir()

    first = await files.list()
    every = [entry.name async for entry in files.entries()]

    assert [e.name for e in first.entries] == ["a.txt", "b.txt"] and first.truncated
    assert first.usage.free == 9_999_000 and first.entries[0].type == "file" and first.entries[0].size == 5
    assert every == ["a.txt", "b.txt", "c.txt", "src"]
    assert [s.query.get("after") for s in state.seen] == [None, None, "b.txt"]
    assert all(s.headers["x-api-key"] == "key" for s in state.seen)


async def test_read_gives_the_file_or_a_range_of_it(files, state):
    data = os.urandom(3000)
    (state.root / "blob").write_bytes(data)

    assert await files.read("blob") == data
    assert await files.read("blob", start=1000, end=1010) == data[1000:1010]
    assert await files.read("blob", start=2990) == data[2990:]
    assert [s.headers.get("range") for s in state.seen] == [None, "bytes=1000-1009", "bytes=2990-"]
    with pytest.raises(errors.NotFound, match="no file missing"):
        await files.read("missing")


async def test_a_cut_download_resumes_with_range_where_it_broke(files, state, tmp_path):
    data = os.urandom(3 * MIB + 123)
    (state.root / "big.bin").write_bytes(data)
    state.cuts = [MIB + 7, MIB]  # the first two replies break midway
    seen_progress = []

    out = await files.download_file(
        "big.bin", tmp_path / "big.bin", progress=lambda done, total: seen_progress.append((done, total))
    )

    assert out.read_bytes() == data and not (tmp_path / "big.bin.part").exists()
    gets = [s for s in state.seen if s.method == "GET"]
    tag = gets[1].headers["if-range"]
    assert [s.headers.get("range") for s in gets] == [None, f"bytes={MIB + 7}-", f"bytes={2 * MIB + 7}-"]
    assert tag.startswith('"') and gets[2].headers["if-range"] == tag, "each resume names the file first read"
    assert seen_progress[-1] == (len(data), len(data))


async def test_a_file_replaced_midway_is_not_spliced(files, state, tmp_path):
    (state.root / "f.bin").write_bytes(os.urandom(2 * MIB))
    state.cuts = [MIB]

    def replace(seen):
        if seen.headers.get("range"):
            (state.root / "f.bin").write_bytes(os.urandom(2 * MIB + 1))

    state.before_reply = replace

    with pytest.raises(errors.FileChanged, match=r"f\.bin changed while it was read"):
        await files.download_file("f.bin", tmp_path / "f.bin")
    assert list(tmp_path.glob("f.bin*")) == [], "nothing half-written is left"


async def test_a_download_that_keeps_breaking_gives_up(files, state, tmp_path, monkeypatch):
    monkeypatch.setattr("rcoder.files.RESUME_PAUSE", 0)
    (state.root / "f.bin").write_bytes(os.urandom(1000))
    state.cuts = [10, 0, 0, 0, 0]  # a first cut, then every retry brings nothing

    with pytest.raises(errors.TransportError, match="broke"):
        await files.download_file("f.bin", tmp_path / "f.bin")
    assert len([s for s in state.seen if s.method == "GET"]) == 5


async def test_write_takes_bytes_text_a_local_file_or_chunks(files, state, tmp_path):
    local = tmp_path / "local.bin"
    local.write_bytes(b"from disk")

    async def chunks():
        yield b"one "
        yield b"two"

    written = await files.write("a/b.txt", "text é")
    await files.write("raw.bin", b"\x00\x01")
    await files.write("copy.bin", local)
    await files.write("streamed.txt", chunks())

    assert (written.name, written.size) == ("b.txt", len("text é".encode()))
    assert (state.root / "a/b.txt").read_text() == "text é"
    assert (state.root / "copy.bin").read_bytes() == b"from disk"
    assert (state.root / "streamed.txt").read_bytes() == b"one two"
    puts = [s for s in state.seen if s.method == "PUT"]
    assert puts[2].headers["content-length"] == "9", "a local file's length is known: it goes first"
    assert puts[3].headers["transfer-encoding"] == "chunked"
    with pytest.raises(errors.NotFound):
        await files.write("no/such/folder.txt", b"x", parents=False)
    assert state.seen[-1].query["parents"] == "false"


async def test_remove_refuses_a_folder_with_files_unless_recursive(files, state):
    (state.root / "dir").mkdir()
    (state.root / "dir/x").write_text("x")

    with pytest.raises(errors.Conflict, match="not empty"):
        await files.remove("dir")
    removed = await files.remove("dir", recursive=True)

    assert removed.type == "dir" and not (state.root / "dir").exists()


async def test_a_full_workspace_raises_workspace_full(files, state, tmp_path):
    state.full = True
    (tmp_path / "up").mkdir()
    (tmp_path / "up/x.txt").write_text("x")

    with pytest.raises(errors.WorkspaceFull, match="the workspace is full") as raised:
        await files.write("big.bin", b"x" * 1000)
    with pytest.raises(errors.WorkspaceFull):
        await files.upload(tmp_path / "up")

    assert (raised.value.status_code, raised.value.code) == (507, "WORKSPACE_FULL")
    assert not (state.root / "big.bin").exists()


async def test_an_upload_streams_from_disk_without_holding_the_file(files, state, tmp_path):
    size = 64 * MIB
    local = sparse(tmp_path / "big.bin", size)
    folder = tmp_path / "tree"
    (folder / "src").mkdir(parents=True)
    sparse(folder / "src/one.bin", 24 * MIB)
    sparse(folder / "two.bin", 24 * MIB, b"two")

    tracemalloc.start()
    try:
        await files.write("big.bin", local)
        _, file_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        extracted = await files.upload(folder, "tree")
        _, folder_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Both sides of the connection are traced here: a few chunks of each, far from a whole file.
    assert file_peak < 8 * MIB and folder_peak < 8 * MIB, (file_peak, folder_peak)

    assert digest(state.root / "big.bin") == digest(local)
    assert digest(state.root / "tree/src/one.bin") == digest(folder / "src/one.bin")
    assert (state.root / "tree/two.bin").read_bytes()[-3:] == b"two"
    assert (extracted.files, extracted.bytes) == (2, 48 * MIB)
    post = next(s for s in state.seen if s.method == "POST")
    assert post.headers["content-type"] == "application/gzip" and post.query == {"path": "tree"}
    assert post.headers["transfer-encoding"] == "chunked", "packed while it is sent: no length ahead"


async def test_a_folder_upload_keeps_links_and_leaves_out_fifos(files, state, tmp_path):
    folder = tmp_path / "tree"
    (folder / "empty").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "link").symlink_to("a.txt")
    os.mkfifo(folder / "pipe")

    await files.upload(folder)

    assert (state.root / "a.txt").read_text() == "a" and (state.root / "empty").is_dir()
    assert os.readlink(state.root / "link") == "a.txt" and not (state.root / "pipe").exists()


async def test_an_archive_file_is_sent_as_it_is_with_its_kind(files, state, tmp_path):
    zipped = tmp_path / "up.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("z/hello.txt", "hello")
    tarred = tmp_path / "up.tar"
    with tarfile.open(tarred, "w") as archive:
        info = tarfile.TarInfo("t.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "notes.txt").write_text("not an archive")

    from_zip = await files.upload(zipped, "in")
    await files.upload(tarred)

    assert from_zip.files == 1 and (state.root / "in/z/hello.txt").read_text() == "hello"
    assert (state.root / "t.txt").read_text() == "hi"
    posts = [s for s in state.seen if s.method == "POST"]
    assert (
        posts[0].query == {"path": "in", "format": "zip"}
        and posts[0].headers["content-type"] == "application/zip"
    )
    assert posts[1].headers["content-type"] == "application/x-tar"
    assert posts[1].headers["content-length"] == str(tarred.stat().st_size)
    with pytest.raises(errors.BadRequest, match="neither a folder nor a tar"):
        await files.upload(tmp_path / "notes.txt")


async def test_download_saves_a_folder_as_an_archive_with_progress(files, state, tmp_path, monkeypatch):
    (state.root / "hello.txt").write_text("hello")
    (state.root / "src").mkdir()
    (state.root / "src/main.py").write_text("print(1)")
    moved = []
    monkeypatch.chdir(tmp_path)

    saved = await files.download(progress=lambda done, total: moved.append((done, total)))

    assert saved == Path("p1.tar.gz")
    with tarfile.open(saved) as archive:
        assert sorted(archive.getnames()) == ["hello.txt", "src", "src/main.py"]
    assert moved[0] == (0, None) and moved[-1] == (saved.stat().st_size, None)
    assert state.seen[-1].query == {"format": "tar.gz"}


async def test_a_computer_agent_projects_files_are_under_its_user(server, state):
    (state.root / "x.txt").write_text("x")
    async with Appliance(server[0], "key") as appliance:
        files = appliance.project("p1", user="u1").files
        assert await files.read("x.txt") == b"x"
    assert state.seen[-1].path == "/computer/files/u1/p1/raw"
