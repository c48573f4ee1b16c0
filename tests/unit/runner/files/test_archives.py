"""Archives out (tar with sendfile, tar.gz, zip) and in: round trips, escapes refused with nothing
left behind, bombs stopped by what is written, a full workspace."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import tarfile
import zipfile

import pytest

from runner.files.errors import BadRequest
from runner.files.extraction import Extraction
from runner.files.server import Limits
from tests.unit.runner.files.serving import serving
from tests.unit.runner.files.swapping import Swapper

MTIME = 1_700_000_000  # even, for the zip's two-second times
GIB = 1024**3


@pytest.fixture
def tree(served):
    """root/src: files with their modes, a folder, an empty folder, links of both kinds, a FIFO."""
    src = served.root / "src"
    (src / "lib" / "empty").mkdir(parents=True)
    files = {"run.sh": (b"#!/bin/sh\necho hi\n", 0o755), "lib/secret": (b"s" * 100_000, 0o600)}
    files["lib/ünï.txt"] = (b"unicode", 0o644)
    for name, (content, mode) in files.items():
        (src / name).write_bytes(content)
        os.chmod(src / name, mode)
    (src / "lib" / "link").symlink_to("../run.sh")
    os.link(src / "run.sh", src / "hard")
    os.mkfifo(src / "fifo")
    for path in [*src.rglob("*"), src]:
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)
    return src


def describe(folder):
    """{path: (type, mode, mtime, content or link target)} of everything under `folder`."""
    found = {}
    for path in sorted(folder.rglob("*")):
        status = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(folder))] = ("link", os.readlink(path))
        elif path.is_dir():
            found[str(path.relative_to(folder))] = ("dir", stat.S_IMODE(status.st_mode), int(status.st_mtime))
        else:
            content = path.read_bytes() if stat.S_ISREG(status.st_mode) else None
            found[str(path.relative_to(folder))] = (
                "file",
                stat.S_IMODE(status.st_mode),
                int(status.st_mtime),
                content,
            )
    return found


def download(served, path, kind):
    reply = served.client.get("/archive", params={"path": path, "format": kind})
    assert reply.status_code == 200, reply.text
    return reply


def upload(served, path, content, kind="tar"):
    return served.client.post("/archive", params={"path": path, "format": kind}, content=content)


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_a_folder_goes_out_and_back_in(served, tree, kind):
    archive = download(served, "src", kind)
    assert archive.headers["content-disposition"].startswith(f'attachment; filename="src.{kind}"')
    reply = upload(served, "copy", archive.content, kind)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"] == {"files": 7, "bytes": 100_018 + 7 + 18 * (kind == "zip"), "skipped": 0}
    expected = describe(tree)
    del expected["fifo"]
    assert describe(served.root / "copy") == expected
    if kind != "zip":  # a zip has no hard links
        assert (served.root / "copy" / "hard").stat().st_ino == (
            served.root / "copy" / "run.sh"
        ).stat().st_ino


def test_the_sendfile_tar_reads_the_same_in_tarfile_and_gnu_tar(served, tree, tmp_path):
    content = download(served, "src", "tar").content
    assert len(content) % tarfile.RECORDSIZE == 0
    (tmp_path / "out.tar").write_bytes(content)
    with tarfile.open(tmp_path / "out.tar") as archive:
        names = sorted(archive.getnames())
        assert archive.getmember("run.sh").islnk() and archive.getmember("lib/link").issym()
    listed = subprocess.run(["tar", "-tf", tmp_path / "out.tar"], capture_output=True, text=True, check=True)
    assert sorted(line.rstrip("/") for line in listed.stdout.splitlines()) == names
    assert names == ["hard", "lib", "lib/empty", "lib/link", "lib/secret", "lib/ünï.txt", "run.sh"]


def test_devices_fifos_and_sockets_are_skipped_and_counted_in_a_trailer(served, tree):
    with socket.create_connection(served.client.base_url.netloc.decode().split(":")) as connection:
        connection.sendall(
            b"GET /archive?path=src&format=tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        received = b"".join(iter(lambda: connection.recv(1 << 16), b""))
    assert b"\r\nTrailer: X-Rcoder-Skipped\r\n" in received
    assert received.endswith(b"\r\n0\r\nX-Rcoder-Skipped: 1\r\n\r\n")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_download_during_a_folder_swap_holds_nothing_from_outside(served, kind):
    (served.root / "src").mkdir()
    with Swapper(served.root / "src"):
        for _ in range(20):
            content = download(served, "src", kind).content
            if kind == "tar":
                with tarfile.open(fileobj=io.BytesIO(content)) as archive:
                    found = {
                        m.name: archive.extractfile(m).read() if m.isfile() else m.linkname for m in archive
                    }
            else:
                with zipfile.ZipFile(io.BytesIO(content)) as archive:
                    found = {name: archive.read(name) for name in archive.namelist()}
            assert set(found) <= {"d", "d/", "d/etc", "d/etc/", "d/etc/passwd", "d.real", "d.real/"} | {
                "d.real/etc",
                "d.real/etc/",
                "d.real/etc/passwd",
            }
            assert all(value in (b"fake", b"/", "/", b"", "") for value in found.values()), found


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, content in members:
            info.size = len(content) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


def zip_of(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(zipfile.ZipInfo(name), b"x")
    return buffer.getvalue()


def assert_left_as_it_was(served, outside=None):
    assert sorted(os.listdir(served.root)) == ["keep"]
    assert (served.root / "keep").read_bytes() == b"keep"
    assert outside is None or os.listdir(outside) == ["secret"]


@pytest.fixture
def outside(served, tmp_path):
    (served.root / "keep").write_bytes(b"keep")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"secret")
    return tmp_path / "outside"


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/../../x", "ok/../../../x"])
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_an_entry_that_would_land_outside_refuses_the_whole_archive(served, outside, bad, kind):
    content = (
        tar_of((entry("ok/first"), b"1"), (entry(bad), b"2")) if kind == "tar" else zip_of("ok/first", bad)
    )
    reply = upload(served, "dst", content, kind)
    assert reply.status_code == 400
    assert repr(bad) in reply.json()["message"]
    assert_left_as_it_was(served, outside)


def test_a_nul_in_a_name_is_refused(served):
    with pytest.raises(BadRequest):
        Extraction(-1, "", GIB, 10)._place("a\0b")


def test_a_link_then_a_file_through_it_is_refused(served, outside):
    attack = tar_of((entry("link", tarfile.SYMTYPE, str(outside)), b""), (entry("link/x"), b"pwned"))
    reply = upload(served, "", attack)
    assert reply.status_code == 403
    climbing = tar_of((entry("d/link", tarfile.SYMTYPE, "../../outside"), b""), (entry("d/link/x"), b"pwned"))
    assert upload(served, "", climbing).status_code == 403
    assert_left_as_it_was(served, outside)


@pytest.mark.parametrize("target", ["../outside/secret", "/etc/passwd", "never-extracted", "keep"])
def test_a_hard_link_only_to_what_the_archive_extracted(served, outside, target):
    attack = tar_of((entry("first"), b"1"), (entry("h", tarfile.LNKTYPE, target), b""))
    reply = upload(served, "", attack)
    assert reply.status_code == 400
    assert "'h'" in reply.json()["message"]
    assert_left_as_it_was(served, outside)


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos_are_refused(served, outside, kind):
    reply = upload(served, "", tar_of((entry("first"), b"1"), (entry("dev", kind), b"")))
    assert reply.status_code == 400 and "'dev'" in reply.json()["message"]
    assert_left_as_it_was(served, outside)


def test_setuid_setgid_and_sticky_bits_are_stripped(served):
    members = [(entry("tool", mode=0o6755), b"x"), (entry("shared", tarfile.DIRTYPE, mode=0o1777), b"")]
    assert upload(served, "", tar_of(*members)).status_code == 200
    assert stat.S_IMODE((served.root / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((served.root / "shared").stat().st_mode) == 0o777
    assert (served.root / "tool").stat().st_uid == os.getuid()


def zeros(size: int):
    class Zeros(io.RawIOBase):
        left = size

        def readinto(self, buffer):
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    return Zeros()


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """A zip and a tar.gz, each of 1 GiB of zeros (a few MiB compressed)."""
    folder = tmp_path_factory.mktemp("bombs")
    with (
        zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("zeros", "w", force_zip64=True) as out,
    ):
        for _ in range(1024):
            out.write(bytes(1 << 20))
    with tarfile.open(folder / "bomb.tar.gz", "w:gz", compresslevel=1) as archive:
        info = entry("zeros")
        info.size = GIB
        archive.addfile(info, zeros(GIB))
    return {"zip": (folder / "bomb.zip").read_bytes(), "tar.gz": (folder / "bomb.tar.gz").read_bytes()}


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_bomb_is_stopped_by_what_is_written(tmp_path, bombs, kind):
    (tmp_path / "keep").write_bytes(b"keep")
    with serving(tmp_path, Limits(max_extract_bytes=8 * 1024 * 1024)) as served:
        reply = upload(served, "unpacked", bombs[kind], kind)
        assert reply.status_code == 413 and reply.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert os.listdir(tmp_path) == ["keep"]


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_too_many_entries_are_refused(tmp_path, kind):
    names = [f"f{i}" for i in range(20)]
    content = tar_of(*[(entry(name), b"x") for name in names]) if kind == "tar" else zip_of(*names)
    with serving(tmp_path, Limits(max_extract_entries=10)) as served:
        reply = upload(served, "many", content, kind)
        assert reply.status_code == 413 and "10 entries" in reply.json()["message"]
        assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_full_workspace_mid_extraction_is_507_and_rolled_back(served, outside, full_after, kind):
    names = [f"d/f{i}" for i in range(10)]
    if kind == "tar":
        content = tar_of(*[(entry(name), b"x" * 100_000) for name in names])
        full_after(450_000)
    else:
        content = zip_of(*names)
        full_after(len(content) + 5)  # the spool fits, the fifth file does not
    reply = upload(served, "", content, kind)
    assert reply.status_code == 507 and reply.json()["code"] == "WORKSPACE_FULL"
    assert_left_as_it_was(served, outside)


def test_the_format_comes_from_the_content_type(served):
    content = zip_of("z")
    typed = served.client.post(
        "/archive", params={"path": "a"}, content=content, headers={"content-type": "application/zip"}
    )
    assert typed.status_code == 200 and (served.root / "a" / "z").read_bytes() == b"x"
    untyped = served.client.post("/archive", params={"path": "b"}, content=content)
    assert untyped.status_code == 400
    not_tar = upload(served, "c", b"this is not a tar at all" * 100)
    assert not_tar.status_code == 400 and not (served.root / "c").exists()
