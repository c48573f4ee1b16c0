"""Paths resolve beneath the root, through openat2 and through the descriptor walk alike: nothing a
workspace's links say reaches a file outside it."""

from __future__ import annotations

import errno
import os
import time

import pytest

from runner.files import beneath
from runner.files.errors import BadRequest, NotARegularFile, PathEscapes
from tests.unit.runner.files.swapping import Swapper

HOST_PASSWD = open("/etc/passwd", "rb").read()  # noqa: SIM115


@pytest.fixture(params=["openat2", "walk"])
def resolver(request, monkeypatch):
    """Every test runs through both resolvers: the kernel's and the fallback walk."""
    monkeypatch.setattr(beneath, "use_fallback", request.param == "walk")
    return request.param


@pytest.fixture
def root(tmp_path, resolver):
    """A root folder with a file, a folder and a file outside it."""
    folder = tmp_path / "root"
    (folder / "sub").mkdir(parents=True)
    (folder / "data.txt").write_bytes(b"inside")
    (folder / "sub" / "deep.txt").write_bytes(b"deep")
    (tmp_path / "outside.txt").write_bytes(b"outside")
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    yield folder, fd
    os.close(fd)


def read(root_fd: int, path: str) -> bytes:
    fd, _ = beneath.open_regular(root_fd, beneath.check_relative(path))
    try:
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


@pytest.mark.parametrize("path", ["..", "../x", "sub/../../x", "a/../b"])
def test_climbing_with_dot_dot_is_refused_before_any_system_call(path):
    with pytest.raises(BadRequest) as caught:
        beneath.check_relative(path)
    assert caught.value.status == 400


def test_a_nul_or_a_long_path_is_refused():
    with pytest.raises(BadRequest):
        beneath.check_relative("a\0b")
    with pytest.raises(BadRequest):
        beneath.check_relative("a/" * 2049)


def test_a_leading_slash_means_the_root(root):
    _, fd = root
    assert beneath.check_relative("/etc/passwd") == "etc/passwd"
    assert beneath.check_relative("/") == ""
    assert beneath.check_relative("./sub//deep.txt") == "sub/deep.txt"
    with pytest.raises(FileNotFoundError):
        read(fd, "/etc/passwd")
    assert read(fd, "/data.txt") == b"inside"


def test_a_link_to_the_hosts_passwd_is_refused(root):
    folder, fd = root
    (folder / "pw").symlink_to("/etc/passwd")
    with pytest.raises(PathEscapes) as caught:
        read(fd, "pw")
    assert caught.value.status == 403


def test_a_relative_link_that_climbs_out_is_refused(root):
    folder, fd = root
    (folder / "sub" / "up").symlink_to("../../outside.txt")
    (folder / "sub" / "updir").symlink_to("../..")
    with pytest.raises(PathEscapes):
        read(fd, "sub/up")
    with pytest.raises(PathEscapes):
        read(fd, "sub/updir/outside.txt")


def test_an_inner_link_is_followed(root):
    folder, fd = root
    (folder / "sub" / "inner").symlink_to("../data.txt")
    (folder / "alias").symlink_to("sub")
    (folder / "sub" / "chain").symlink_to("inner")
    assert read(fd, "sub/inner") == b"inside"
    assert read(fd, "alias/deep.txt") == b"deep"
    assert read(fd, "alias/chain") == b"inside"


def test_the_last_link_is_kept_with_o_nofollow(root):
    folder, fd = root
    (folder / "pw").symlink_to("/etc/passwd")
    located = beneath.open_beneath(fd, "pw", os.O_PATH | os.O_NOFOLLOW)
    try:
        assert os.readlink("", dir_fd=located) == "/etc/passwd"
    finally:
        os.close(located)


def test_a_link_loop_is_refused(root):
    folder, fd = root
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")
    with pytest.raises(PathEscapes):
        read(fd, "a")


def test_a_root_folder_that_is_a_link_is_refused(root):
    folder, fd = root
    (folder / "mine").mkdir()
    (folder / "mine" / "f").write_bytes(b"mine")
    (folder / "neighbour").symlink_to("sub")  # even a link to a folder beneath
    mine = beneath.open_root(fd, "mine")
    try:
        assert read(mine, "f") == b"mine"
    finally:
        os.close(mine)
    with pytest.raises(PathEscapes):
        beneath.open_root(fd, "neighbour")
    with pytest.raises(PathEscapes):
        beneath.open_root(fd, "neighbour/x")


def test_a_fifo_is_refused_without_blocking(root):
    folder, fd = root
    os.mkfifo(folder / "fifo")
    (folder / "to-fifo").symlink_to("fifo")
    started = time.monotonic()
    for path in ("fifo", "to-fifo"):
        with pytest.raises(NotARegularFile) as caught:
            read(fd, path)
        assert caught.value.status == 403
    assert time.monotonic() - started < 1


def test_a_folder_read_as_a_file_is_refused(root):
    _, fd = root
    with pytest.raises(IsADirectoryError):
        read(fd, "sub")


def test_a_folder_swapped_for_a_link_never_reads_the_hosts_file(root):
    folder, fd = root
    outcomes = {"fake": 0, "refused": 0, "missing": 0}
    with Swapper(folder):
        for _ in range(2000):
            try:
                content = read(fd, "d/etc/passwd")
            except PathEscapes:
                outcomes["refused"] += 1
            except FileNotFoundError:
                outcomes["missing"] += 1
            else:
                assert content == b"fake", "the host's passwd was read"
                assert content != HOST_PASSWD
                outcomes["fake"] += 1
    assert outcomes["fake"] > 0, outcomes


def test_a_walk_during_the_swap_stays_beneath(root):
    folder, _ = root
    swapper = Swapper(folder)
    fake = os.stat(folder / "d" / "etc" / "passwd").st_ino
    inside = {"d", "d.real", "data.txt", "sub", "sub/deep.txt"}
    inside |= {f"{d}/{rest}" for d in ("d", "d.real") for rest in ("etc", "etc/passwd")}
    walked = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with swapper:
            for _ in range(200):
                for path, _, _, status in beneath.walk(walked):
                    assert path in inside, path
                    if path.endswith("etc/passwd"):
                        assert status.st_ino == fake
    finally:
        os.close(walked)


def test_openat2_refused_by_seccomp_switches_to_the_walk(tmp_path, monkeypatch):
    """Docker's older seccomp profiles answer EPERM for openat2: the walk takes over, for good."""
    monkeypatch.setattr(beneath, "use_fallback", False)
    calls = []

    def refused(*args):
        calls.append(args)
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(beneath, "_openat2", refused)
    (tmp_path / "f").write_bytes(b"walked")
    (tmp_path / "pw").symlink_to("/etc/passwd")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        assert read(fd, "f") == b"walked"
        assert beneath.use_fallback is True and len(calls) == 1
        with pytest.raises(PathEscapes):
            read(fd, "pw")
        assert len(calls) == 1
    finally:
        os.close(fd)
