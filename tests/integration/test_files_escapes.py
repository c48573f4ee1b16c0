"""The files API attacked from where an attacker stands: a client naming paths that lead out, an agent
(uid 1000 in its own container) planting links, swapping a folder for a link during a walk, and FIFOs;
uploaded archives that lead out or explode; and a write past the workspace's quota."""

from __future__ import annotations

import io
import tarfile
import threading
import time
import zipfile

import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.stack import agent_containers, run_appliance

pytestmark = pytest.mark.engine

WORKSPACE = "/app/project_workspace"
PASSWD_LINE = "root:x:0:0:"


def new_project(client) -> str:
    project = project_id()
    events = read_all(client, chat(client, project, "create hello.txt")["session_id"])
    assert events[-1].event == "end_turn"
    return project


def as_agent(engine, stack: str, project: str, script: str) -> None:
    [container] = agent_containers(engine, stack, project)
    result = container.exec_run(["sh", "-c", script], user="agent")
    assert result.exit_code == 0, result.output.decode()


def raw(client, project: str, path: str):
    return client.get(f"/agent/files/{project}/raw", params={"path": path}, timeout=10)


def test_paths_that_lead_out_are_refused_before_anything_is_opened(client):
    project = new_project(client)

    climbing = raw(client, project, "../../../etc/passwd")
    inner_climb = raw(client, project, "a/../../etc/passwd")
    absolute = raw(client, project, "/etc/passwd")
    nul = raw(client, project, "hello.txt\x00.png")

    assert climbing.status_code == 400 and inner_climb.status_code == 400 and nul.status_code == 400
    assert absolute.status_code == 404, "an absolute path names the workspace's own /etc/passwd"
    for response in (climbing, inner_climb, absolute, nul):
        assert PASSWD_LINE not in response.text


def test_links_planted_by_the_agent_are_followed_only_inside_the_workspace(client, engine, stack):
    project = new_project(client)
    as_agent(
        engine,
        stack,
        project,
        f"cd {WORKSPACE} && ln -s /etc/passwd passwd && ln -s ../../../etc root && mkdir -p d "
        "&& ln -s ../hello.txt d/inner && ln -s / d/top",
    )

    listing = client.get(f"/agent/files/{project}").json()["data"]["entries"]
    links = {e["name"]: e for e in listing if e["type"] == "symlink"}
    absolute, climbing = raw(client, project, "passwd"), raw(client, project, "root/passwd")
    through_dir = raw(client, project, "d/top/etc/passwd")
    inner = raw(client, project, "d/inner")
    archive = client.get(f"/agent/files/{project}/archive", params={"format": "tar"})

    assert links["passwd"]["target"] == "/etc/passwd"
    for response in (absolute, climbing, through_dir):
        assert response.status_code == 403 and PASSWD_LINE not in response.text
    assert inner.status_code == 200 and inner.content.startswith(b"Hello")
    with tarfile.open(fileobj=io.BytesIO(archive.content)) as members:
        kept = {m.name: m for m in members}
    assert kept["./passwd"].issym() if "./passwd" in kept else kept["passwd"].issym()
    assert PASSWD_LINE.encode() not in archive.content, "links are archived as links, never followed"


def test_a_folder_swapped_for_a_link_during_reads_and_walks_never_leads_out(client, engine, stack):
    project = new_project(client)
    as_agent(engine, stack, project, f"mkdir -p {WORKSPACE}/d/etc && echo mine > {WORKSPACE}/d/etc/passwd")
    [container] = agent_containers(engine, stack, project)
    # The agent swaps d for a link to / and back as fast as it can, for the length of the attack.
    swapper = container.exec_run(
        [
            "sh",
            "-c",
            f"cd {WORKSPACE} && end=$(($(date +%s)+40)); while [ $(date +%s) -lt $end ]; do "
            "mv d real && ln -s / d && rm d && mv real d; done",
        ],
        user="agent",
        detach=True,
    )
    assert swapper is not None
    leaks, seen_mine = [], 0
    deadline = time.monotonic() + 30
    for attempt in range(300):
        if time.monotonic() > deadline:
            break
        response = raw(client, project, "d/etc/passwd")
        if PASSWD_LINE in response.text:
            leaks.append(attempt)
        seen_mine += response.status_code == 200 and response.text == "mine\n"
        if attempt % 15 == 0:
            archive = client.get(f"/agent/files/{project}/archive", params={"format": "tar", "path": "d"})
            if archive.status_code == 200:  # else d was a link when asked for: refused
                with tarfile.open(fileobj=io.BytesIO(archive.content)) as members:
                    assert all(not m.name.startswith(("/", "..")) for m in members)
            else:
                assert archive.status_code in (403, 404), archive.text
            if PASSWD_LINE.encode() in archive.content:
                leaks.append(f"archive {attempt}")

    assert leaks == [], "the host's files leaked through a swapped folder"
    assert seen_mine > 0, "the race left no read of the real folder: the test proved nothing"


def archive_with(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member, data in members:
            archive.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, target: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, len(data)
    return info, data


@pytest.mark.parametrize(
    "attack",
    [
        [member("../escaped.txt", b"x")],
        [member("/tmp/escaped.txt", b"x")],
        [member("a/../../escaped.txt", b"x")],
        [member("link", kind=tarfile.SYMTYPE, target="/tmp"), member("link/escaped.txt", b"x")],
        [member("hard", kind=tarfile.LNKTYPE, target="/etc/passwd")],
        [member("dev", kind=tarfile.CHRTYPE)],
    ],
    ids=["dotdot", "absolute", "inner-dotdot", "link-then-write", "hard-link-out", "device"],
)
def test_an_archive_that_leads_out_is_refused_whole_and_leaves_nothing(client, engine, stack, attack):
    project = new_project(client)
    body = archive_with(member("first.txt", b"written before the bad entry"), *attack)

    response = client.post(
        f"/agent/files/{project}/archive",
        params={"path": "in"},
        content=body,
        headers={"content-type": "application/x-tar"},
    )

    assert response.status_code in (400, 403), response.text
    assert response.json()["success"] is False
    [container] = agent_containers(engine, stack, project)
    found = container.exec_run(["sh", "-c", f"ls -A {WORKSPACE}/in 2>/dev/null; ls /tmp/escaped.txt 2>&1"])
    assert "first.txt" not in found.output.decode() and "No such file" in found.output.decode()


def test_a_zip_bomb_is_stopped_at_the_limit_and_rolled_back(client):
    project = new_project(client)
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.bin", "w", force_zip64=True) as bomb,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(5 * 1024):  # 5 GiB of zeros, some 5 MiB compressed
            bomb.write(chunk)

    response = client.post(
        f"/agent/files/{project}/archive", params={"format": "zip"}, content=buffer.getvalue(), timeout=120
    )

    assert response.status_code == 413, response.text
    assert "bomb.bin" not in client.get(f"/agent/files/{project}").text


def test_a_fifo_is_listed_but_never_read_and_never_blocks(client, engine, stack):
    project = new_project(client)
    as_agent(engine, stack, project, f"mkfifo {WORKSPACE}/pipe")

    entries = {e["name"]: e for e in client.get(f"/agent/files/{project}").json()["data"]["entries"]}
    began = time.monotonic()
    read = raw(client, project, "pipe")

    assert entries["pipe"]["type"] == "other"
    assert read.status_code == 403 and time.monotonic() - began < 5


def test_a_write_past_the_quota_is_507_and_leaves_no_file(engine):
    with (
        run_appliance(engine, RCODER_WORKSPACE_SIZE_BYTES=str(64 * 1024**2)) as small,
        small.client() as client,
    ):
        project = new_project(client)
        before = client.get(f"/agent/files/{project}").json()["data"]["usage"]

        def chunks():
            block = b"\xa5" * (1024 * 1024)
            for _ in range(80):
                yield block

        full = client.put(
            f"/agent/files/{project}/raw", params={"path": "big.bin"}, content=chunks(), timeout=120
        )
        after = client.get(f"/agent/files/{project}").json()["data"]
        small_write = client.put(f"/agent/files/{project}/raw", params={"path": "small.txt"}, content=b"ok")

    assert full.status_code == 507, full.text
    body = full.json()
    assert body["code"] == "WORKSPACE_FULL" and "full" in body["message"]
    assert {e["name"] for e in after["entries"]} == {"hello.txt"}, "no file and no part file is left"
    assert after["usage"]["used"] <= before["used"] + 1024 * 1024
    assert small_write.status_code == 200


def test_a_concurrent_reader_sees_the_old_file_or_the_new_never_a_mix(client):
    project = new_project(client)
    old, new = b"o" * (4 * 1024 * 1024), b"n" * (4 * 1024 * 1024)
    client.put(f"/agent/files/{project}/raw", params={"path": "f.bin"}, content=old)
    mixed: list[int] = []

    def read_many() -> None:
        for _ in range(20):
            body = raw(client, project, "f.bin").content
            if body not in (old, new):
                mixed.append(len(body))

    reader = threading.Thread(target=read_many)
    reader.start()
    for _ in range(10):
        client.put(f"/agent/files/{project}/raw", params={"path": "f.bin"}, content=new)
        client.put(f"/agent/files/{project}/raw", params={"path": "f.bin"}, content=old)
    reader.join(60)

    assert mixed == []
