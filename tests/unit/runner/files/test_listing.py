"""A folder's listing: entries sorted and typed, links with their targets, pages, the usage."""

from __future__ import annotations

import os
import re

import pytest

from runner.files import listing
from runner.files.errors import BadRequest, PathEscapes

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "root"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "main.py").write_bytes(b"print()\n")
    (folder / "b.txt").write_bytes(b"bb")
    (folder / "a-link").symlink_to("src/main.py")
    (folder / "out").symlink_to(tmp_path)
    os.chmod(folder / "b.txt", 0o640)
    os.utime(folder / "b.txt", ns=(0, 1_700_000_000_123_456_789))
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_entries_are_sorted_typed_and_described(root):
    found = listing.list_folder(root, "")
    assert [(e["name"], e["type"]) for e in found["entries"]] == [
        ("a-link", "symlink"),
        ("b.txt", "file"),
        ("out", "symlink"),
        ("src", "dir"),
    ]
    link, file, _, folder = found["entries"]
    assert link["target"] == "src/main.py" and "target" not in file
    assert (file["size"], file["mode"], file["mtime"]) == (2, 0o640, "2023-11-14T22:13:20.123456Z")
    assert folder["size"] == 0 and RFC3339.fullmatch(folder["mtime"])
    assert found["path"] == "" and found["truncated"] is False
    assert set(found["usage"]) == {"used", "size", "free"} and found["usage"]["size"] > 0


def test_pages_follow_the_last_name(root):
    first = listing.list_folder(root, "", limit=2)
    assert [e["name"] for e in first["entries"]] == ["a-link", "b.txt"] and first["truncated"]
    second = listing.list_folder(root, "", limit=2, after="b.txt")
    assert [e["name"] for e in second["entries"]] == ["out", "src"] and not second["truncated"]


def test_a_subfolder_is_listed_and_the_limit_is_bounded(root):
    assert [e["name"] for e in listing.list_folder(root, "src")["entries"]] == ["main.py"]
    for limit in (0, listing.MAX_LIMIT + 1):
        with pytest.raises(BadRequest):
            listing.list_folder(root, "", limit=limit)


def test_a_file_is_no_folder_and_a_link_out_is_refused(root):
    with pytest.raises(BadRequest):
        listing.list_folder(root, "b.txt")
    with pytest.raises(PathEscapes):
        listing.list_folder(root, "out")
    with pytest.raises(FileNotFoundError):
        listing.list_folder(root, "missing")
