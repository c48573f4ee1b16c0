"""Reading, writing and deleting one file through the files server: Range, ETag, atomic replaces,
a full workspace, and nothing outside the root."""

from __future__ import annotations

import os
import threading
import time

import pytest

from runner.files import transfer


def put(served, path, content, **params):
    return served.client.put("/raw", params={"path": path, **params}, content=content)


def test_a_file_written_is_read_back_with_its_folders_made(served):
    reply = put(served, "a/b/c.txt", b"hello")
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["name"] == "c.txt" and reply.json()["data"]["size"] == 5
    assert (served.root / "a" / "b" / "c.txt").read_bytes() == b"hello"
    got = served.client.get("/raw", params={"path": "/a/b/c.txt"})
    assert got.status_code == 200 and got.content == b"hello"
    assert got.headers["content-type"] == "text/plain"


def test_without_parents_a_missing_folder_is_404(served):
    reply = put(served, "missing/c.txt", b"x", parents="false")
    assert reply.status_code == 404 and reply.json()["code"] == "NOT_FOUND"
    assert not (served.root / "missing").exists()


def test_files_and_folders_written_belong_to_the_server(served):
    assert put(served, "made/f", b"x").status_code == 200
    assert (served.root / "made").stat().st_uid == os.getuid()
    assert (served.root / "made" / "f").stat().st_uid == os.getuid()


def test_served_files_are_inert(served):
    (served.root / "page.html").write_text("<script>alert(1)</script>")
    reply = served.client.get("/raw", params={"path": "page.html", "download": "1"})
    assert reply.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["content-type"] == "text/html"
    assert reply.headers["content-disposition"].startswith('attachment; filename="page.html"')
    assert "content-disposition" not in served.client.get("/raw", params={"path": "page.html"}).headers


def test_one_range_is_served(served):
    (served.root / "f.bin").write_bytes(b"0123456789")
    cases = {"bytes=2-5": (b"2345", "bytes 2-5/10"), "bytes=-3": (b"789", "bytes 7-9/10")}
    cases["bytes=8-"] = (b"89", "bytes 8-9/10")
    cases["bytes=8-100"] = (b"89", "bytes 8-9/10")
    for header, (content, content_range) in cases.items():
        reply = served.client.get("/raw", params={"path": "f.bin"}, headers={"range": header})
        assert reply.status_code == 206, header
        assert (reply.content, reply.headers["content-range"]) == (content, content_range)
    several = served.client.get("/raw", params={"path": "f.bin"}, headers={"range": "bytes=0-1,4-5"})
    assert several.status_code == 200 and several.content == b"0123456789"


def test_a_range_past_the_end_is_416(served):
    (served.root / "f.bin").write_bytes(b"01234")
    reply = served.client.get("/raw", params={"path": "f.bin"}, headers={"range": "bytes=10-"})
    assert reply.status_code == 416
    assert reply.headers["content-range"] == "bytes */5"
    assert reply.json()["code"] == "RANGE_NOT_SATISFIABLE"


def test_etag_answers_304_and_guards_a_range(served):
    (served.root / "f.txt").write_bytes(b"version one")
    first = served.client.get("/raw", params={"path": "f.txt"})
    tag = first.headers["etag"]
    status = (served.root / "f.txt").stat()
    assert tag == f'"{status.st_ino}-{status.st_size}-{status.st_mtime_ns}"'
    again = served.client.get("/raw", params={"path": "f.txt"}, headers={"if-none-match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    ranged = served.client.get(
        "/raw", params={"path": "f.txt"}, headers={"range": "bytes=0-6", "if-range": tag}
    )
    assert ranged.status_code == 206 and ranged.content == b"version"
    put(served, "f.txt", b"version two!")
    stale = served.client.get(
        "/raw", params={"path": "f.txt"}, headers={"range": "bytes=0-6", "if-range": tag}
    )
    assert stale.status_code == 200 and stale.content == b"version two!"
    changed = served.client.get("/raw", params={"path": "f.txt"}, headers={"if-none-match": tag})
    assert changed.status_code == 200


def test_head_answers_the_headers_alone(served):
    (served.root / "f.txt").write_bytes(b"12345")
    reply = served.client.head("/raw", params={"path": "f.txt"})
    assert reply.status_code == 200 and reply.content == b""
    assert reply.headers["content-length"] == "5" and reply.headers["accept-ranges"] == "bytes"


def test_a_reader_during_replaces_sees_old_or_new_never_a_mix(served):
    size = 1024 * 1024
    put(served, "f", b"a" * size)
    stop = threading.Event()

    def replace() -> None:
        with served.client.__class__(base_url=served.client.base_url) as writer:
            while not stop.is_set():
                for byte in (b"b", b"a"):
                    writer.put("/raw", params={"path": "f"}, content=byte * size)

    writer = threading.Thread(target=replace)
    writer.start()
    try:
        seen = set()
        for _ in range(40):
            content = served.client.get("/raw", params={"path": "f"}).content
            assert len(content) == size and len(set(content)) == 1
            seen.add(content[:1])
    finally:
        stop.set()
        writer.join()
    assert seen == {b"a", b"b"}


@pytest.mark.parametrize("named_part", [False, True])
def test_a_full_workspace_answers_507_and_leaves_the_old_file(served, full_after, monkeypatch, named_part):
    monkeypatch.setattr(transfer, "use_named_part", named_part)
    (served.root / "f.txt").write_bytes(b"old")
    full_after(100_000)
    reply = put(served, "f.txt", b"x" * 1_000_000)
    assert reply.status_code == 507
    assert reply.json()["code"] == "WORKSPACE_FULL"
    assert "the workspace is full (" in reply.json()["message"]
    new = put(served, "new.txt", b"x" * 1_000_000)
    assert new.status_code == 507
    assert sorted(os.listdir(served.root)) == ["f.txt"]
    assert (served.root / "f.txt").read_bytes() == b"old"


def test_a_body_larger_than_the_free_space_is_refused_before_it_is_read(served, monkeypatch):
    monkeypatch.setattr(transfer, "usage", lambda fd: (90, 100, 10))
    reply = put(served, "big", b"x" * 3_000_000)
    assert reply.status_code == 507 and reply.json()["message"].startswith("the workspace is full (")
    assert not (served.root / "big").exists()
    # The connection carries the next request: the refused body was drained.
    assert served.client.get("/", params={"path": ""}).status_code == 200


def test_a_fifo_is_listed_as_other_and_not_read(served):
    os.mkfifo(served.root / "fifo")
    listed = served.client.get("/").json()["data"]["entries"]
    assert [(e["name"], e["type"]) for e in listed] == [("fifo", "other")]
    started = time.monotonic()
    reply = served.client.get("/raw", params={"path": "fifo"})
    assert reply.status_code == 403 and reply.json()["code"] == "FORBIDDEN"
    assert time.monotonic() - started < 1


def test_links_that_leave_the_root_are_refused(served, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"s3cr3t")
    (served.root / "out").symlink_to(tmp_path / "outside")
    (served.root / "pw").symlink_to("/etc/passwd")
    (served.root / "up").symlink_to("../outside/secret")
    for path in ("out/secret", "pw", "up"):
        reply = served.client.get("/raw", params={"path": path})
        assert reply.status_code == 403, path
        assert b"s3cr3t" not in reply.content and b"root:" not in reply.content
    assert put(served, "out/new", b"x").status_code == 403
    assert not (tmp_path / "outside" / "new").exists()
    assert served.client.get("/raw", params={"path": "/etc/passwd"}).status_code == 404
    assert served.client.get("/raw", params={"path": "../x"}).status_code == 400


def test_a_write_over_a_link_replaces_the_link_not_its_target(served, tmp_path):
    (tmp_path / "target").write_bytes(b"target")
    (served.root / "link").symlink_to(tmp_path / "target")
    assert put(served, "link", b"new").status_code == 200
    assert (tmp_path / "target").read_bytes() == b"target"
    assert not (served.root / "link").is_symlink()


def test_a_write_over_a_folder_is_409(served):
    (served.root / "d").mkdir()
    reply = put(served, "d", b"x")
    assert reply.status_code == 409 and reply.json()["code"] == "CONFLICT"
    assert put(served, "", b"x").status_code == 400


def test_deletes(served, tmp_path):
    (served.root / "f").write_bytes(b"x")
    (served.root / "empty").mkdir()
    (served.root / "full" / "deep").mkdir(parents=True)
    (served.root / "full" / "deep" / "f").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep").write_bytes(b"keep")
    (served.root / "full" / "out").symlink_to(tmp_path / "outside")

    def delete(path, **params):
        return served.client.delete("/raw", params={"path": path, **params})

    assert delete("f").status_code == 200 and not (served.root / "f").exists()
    assert delete("empty").status_code == 200 and not (served.root / "empty").exists()
    refused = delete("full")
    assert refused.status_code == 409 and "recursive=true" in refused.json()["message"]
    assert delete("full", recursive="true").status_code == 200
    assert os.listdir(served.root) == []
    assert (tmp_path / "outside" / "keep").read_bytes() == b"keep"
    assert delete("gone").status_code == 404
    assert delete("/").status_code == 400
