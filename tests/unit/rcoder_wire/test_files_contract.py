"""What the files server writes (it has no pydantic) validates against the wire models the gateway
and the client read it with."""

from __future__ import annotations

import os

import pytest

from rcoder_wire.replies import ErrorReply, ExtractReply, FileEntryReply, FileListReply
from tests.unit.runner.files.serving import serving


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "root"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_bytes(b"print()\n")
    (root / "link").symlink_to("src/main.py")
    os.mkfifo(root / "fifo")
    with serving(root) as served:
        yield served


def test_a_listing_is_a_file_list(served):
    reply = FileListReply.model_validate(served.client.get("/", params={"path": "/"}).json())
    assert [(e.name, e.type) for e in reply.data.entries] == [
        ("fifo", "other"),
        ("link", "symlink"),
        ("src", "dir"),
    ]
    assert reply.data.entries[1].target == "src/main.py"
    assert reply.data.usage.size >= reply.data.usage.free
    assert reply.data.entries[2].mtime.tzinfo is not None


def test_a_written_file_is_a_file_entry(served):
    reply = served.client.put("/raw", params={"path": "new.txt"}, content=b"12345")
    entry = FileEntryReply.model_validate(reply.json()).data
    umask = os.umask(0o022)
    os.umask(umask)
    assert (entry.name, entry.type, entry.size, entry.mode) == ("new.txt", "file", 5, 0o644 & ~umask)


def test_an_extraction_is_extract_data(served):
    archive = served.client.get("/archive", params={"path": "src", "format": "zip"}).content
    reply = served.client.post("/archive", params={"path": "copy", "format": "zip"}, content=archive)
    assert ExtractReply.model_validate(reply.json()).data.model_dump() == {
        "files": 1,
        "bytes": 8,
        "skipped": 0,
    }


@pytest.mark.parametrize(
    ("method", "params"),
    [("GET", {"path": "missing"}), ("GET", {"path": "../x"}), ("DELETE", {"path": "src"})],
)
def test_a_refusal_is_an_error_reply(served, method, params):
    reply = served.client.request(method, "/raw", params=params)
    error = ErrorReply.model_validate(reply.json())
    assert reply.status_code >= 400 and not error.success and error.data is None
