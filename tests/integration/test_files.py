"""The files API on the real engine: a project's workspace listed, read, written, removed and packed
or unpacked, through the proxy and through the gateway's own port alike, whether the project's
container runs, is paused or is gone; the agent's container is never started or resumed for it."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.integration.test_desktop import computer_chat, computer_events
from tests.stack import agent_containers, containers

pytestmark = pytest.mark.engine

HELLO = b"Hello from the RCoder demo agent!\n"
STATES = ("running", "paused", "removed")


@pytest.fixture(params=["proxy", "gateway"])
def files(request, appliance) -> Iterator[httpx.Client]:
    """A client of the files API, through the proxy (the bytes go straight to the files container) or
    the gateway's own port (they go through the gateway)."""
    url = appliance.url if request.param == "proxy" else appliance.gateway_url
    headers = {"x-api-key": appliance.api_key}
    with httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(30, read=60)) as client:
        yield client


def agent_wrote_hello(client: httpx.Client) -> str:
    project = project_id()
    events = read_all(client, chat(client, project, "create hello.txt")["session_id"])
    assert events[-1].event == "end_turn", [e.event for e in events]
    return project


def put_in_state(engine, stack: str, project: str, state: str) -> None:
    [container] = agent_containers(engine, stack, project)
    if state == "paused":
        container.pause()
    elif state == "removed":
        container.remove(force=True)


def state_of(engine, stack: str, project: str) -> str:
    found = agent_containers(engine, stack, project)
    return found[0].status if found else "removed"


def listed(files: httpx.Client, prefix: str, path: str = "") -> dict[str, dict]:
    response = files.get(prefix, params={"path": path} if path else None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return {entry["name"]: entry for entry in body["data"]["entries"]}


@pytest.mark.parametrize("state", STATES)
def test_the_agents_file_is_listed_and_read_whatever_its_containers_state(
    client, files, engine, stack, state
):
    project = agent_wrote_hello(client)
    put_in_state(engine, stack, project, state)
    before = state_of(engine, stack, project)
    prefix = f"/agent/files/{project}"

    entry = listed(files, prefix)["hello.txt"]
    read = files.get(f"{prefix}/raw", params={"path": "hello.txt"})
    part = files.get(f"{prefix}/raw", params={"path": "hello.txt"}, headers={"range": "bytes=0-4"})
    again = files.get(
        f"{prefix}/raw", params={"path": "hello.txt"}, headers={"if-none-match": read.headers["etag"]}
    )

    assert entry["type"] == "file" and entry["size"] == len(HELLO) and entry["mode"] & 0o777 == 0o644
    assert read.status_code == 200 and read.content == HELLO
    assert read.headers["content-type"].startswith("text/plain") and read.headers["etag"]
    assert "sandbox" in read.headers["content-security-policy"]
    assert (part.status_code, part.content, part.headers["content-range"]) == (
        206,
        b"Hello",
        f"bytes 0-4/{len(HELLO)}",
    )
    assert again.status_code == 304
    assert state_of(engine, stack, project) == before, "the files API left the agent's container as it was"


def test_a_file_written_through_the_api_is_the_agents_own(client, files, engine, stack):
    project = agent_wrote_hello(client)
    prefix = f"/agent/files/{project}"

    written = files.put(f"{prefix}/raw", params={"path": "src/deep/new.txt"}, content=b"from the user\n")

    assert written.status_code == 200, written.text
    [container] = agent_containers(engine, stack, project)
    read = container.exec_run(["stat", "-c", "%u %a %s", "/app/project_workspace/src/deep/new.txt"])
    assert read.output.decode().split() == ["1000", "644", "14"]
    events = read_all(client, chat(client, project, "read src/deep/new.txt")["session_id"])
    assert events[-1].event == "end_turn"


def test_files_and_folders_are_removed_a_tree_only_when_asked(client, files):
    project = agent_wrote_hello(client)
    prefix = f"/agent/files/{project}"
    for name in ("tree/a/1.txt", "tree/b/2.txt"):
        assert files.put(f"{prefix}/raw", params={"path": name}, content=b"x").status_code == 200

    not_empty = files.delete(f"{prefix}/raw", params={"path": "tree"})
    a_file = files.delete(f"{prefix}/raw", params={"path": "hello.txt"})
    the_tree = files.delete(f"{prefix}/raw", params={"path": "tree", "recursive": "true"})

    assert not_empty.status_code == 409 and not_empty.json()["success"] is False
    assert a_file.status_code == 200 and the_tree.status_code == 200
    assert listed(files, prefix) == {}
    assert files.get(f"{prefix}/raw", params={"path": "hello.txt"}).status_code == 404


@pytest.mark.parametrize("state", ["running", "removed"])
def test_the_workspace_downloads_as_tar_tar_gz_and_zip(client, files, engine, stack, state):
    project = agent_wrote_hello(client)
    files.put(f"/agent/files/{project}/raw", params={"path": "src/app.py"}, content=b"print(1)\n")
    put_in_state(engine, stack, project, state)
    prefix = f"/agent/files/{project}/archive"

    tar = files.get(prefix, params={"format": "tar"})
    gz = files.get(prefix)  # tar.gz by default
    zipped = files.get(prefix, params={"format": "zip"})
    folder = files.get(prefix, params={"format": "tar", "path": "src"})

    for response in (tar, gz):
        with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
            names = archive.getnames()
            assert (
                archive.extractfile(next(m for m in archive if m.name.endswith("hello.txt"))).read() == HELLO
            )
        assert any(n.endswith("hello.txt") for n in names) and any(n.endswith("src/app.py") for n in names)
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert any(n.endswith("hello.txt") for n in archive.namelist())
    with tarfile.open(fileobj=io.BytesIO(folder.content)) as archive:
        assert [n for n in archive.getnames() if n.endswith(".py")] and not any(
            "hello" in n for n in archive.getnames()
        )


def test_an_uploaded_archive_is_unpacked_into_a_folder(client, files):
    project = agent_wrote_hello(client)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("lib/one.txt", b"1"), ("lib/two/three.txt", b"3")):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("z/four.txt", "4")

    from_tar = files.post(
        f"/agent/files/{project}/archive",
        params={"path": "vendor"},
        content=buffer.getvalue(),
        headers={"content-type": "application/gzip"},
    )
    from_zip = files.post(
        f"/agent/files/{project}/archive",
        params={"path": "vendor", "format": "zip"},
        content=zipped.getvalue(),
    )

    assert from_tar.status_code == 200, from_tar.text
    assert from_tar.json()["data"]["files"] == 2
    assert from_zip.status_code == 200, from_zip.text
    assert set(listed(files, f"/agent/files/{project}", "vendor")) == {"lib", "z"}
    read = files.get(f"/agent/files/{project}/raw", params={"path": "vendor/lib/two/three.txt"})
    assert read.content == b"3"


def test_a_project_without_a_workspace_has_no_files(files, engine, stack):
    project = project_id()
    response = files.get(f"/agent/files/{project}")
    assert response.status_code == 404 and "no workspace" in response.json()["message"]
    assert containers(engine, label=[f"rcoder.stack={stack}", "rcoder.kind=files"]) == [] or all(
        c.labels.get("rcoder.project") != project
        for c in containers(engine, label=[f"rcoder.stack={stack}", "rcoder.kind=files"])
    )


def test_a_project_in_a_pod_sees_only_its_own_folder(client, files):
    pod, mine, theirs = f"pod{project_id()}", project_id(), project_id()
    place = {"pod_id": pod, "tenant_id": "acme", "space_id": "web", "isolation_type": "space"}
    for project in (mine, theirs):
        events = read_all(client, chat(client, project, f"create {project}.txt", **place)["session_id"])
        assert events[-1].event == "end_turn"

    assert set(listed(files, f"/agent/files/{mine}")) == {f"{mine}.txt"}
    assert set(listed(files, f"/agent/files/{theirs}")) == {f"{theirs}.txt"}
    escape = files.get(f"/agent/files/{mine}/raw", params={"path": f"../{theirs}/{theirs}.txt"})
    assert escape.status_code == 400


def test_a_files_token_opens_that_projects_files_and_a_preview_token_does_not(client, appliance):
    project = agent_wrote_hello(client)
    files_token = client.post("/proxy/token", json={"project_id": project, "access": "files"}).json()["data"]
    preview = client.post("/proxy/token", json={"project_id": project}).json()["data"]["token"]

    with httpx.Client(base_url=appliance.url) as browser:
        opened = browser.get(files_token["files_url"])
        by_cookie = browser.get(f"/agent/files/{project}/raw", params={"path": "hello.txt"})
        refused = httpx.get(f"{appliance.url}/agent/files/{project}", params={"rcoder_token": preview})
        nothing = httpx.get(f"{appliance.url}/agent/files/{project}")

    assert opened.status_code == 200 and "hello.txt" in opened.text
    assert by_cookie.status_code == 200 and by_cookie.content == HELLO
    assert refused.status_code == 403 and nothing.status_code == 401


def test_an_idle_files_container_leaves_and_comes_back_when_needed(client, engine, stack, appliance):
    project = agent_wrote_hello(client)
    files_label = [f"rcoder.stack={stack}", "rcoder.kind=files", f"rcoder.project={project}"]
    assert client.get(f"/agent/files/{project}").status_code == 200
    [server] = containers(engine, label=files_label)
    server.stop(timeout=1)  # as its server does when idle (files.idle_seconds)

    eventually(
        lambda: client.get(f"/agent/files/{project}").status_code == 200, 30, "the files API answers again"
    )


def test_a_computer_agent_projects_files_are_its_folder_of_its_users_home(client, files):
    user, other = f"u{project_id()}", f"u{project_id()}"
    session = computer_chat(client, user, "create hello.txt", project="notes")
    assert list(computer_events(client, session))[-1].event == "end_turn"

    mine = files.get(f"/computer/files/{user}/notes/raw", params={"path": "hello.txt"})
    listed = files.get(f"/computer/files/{user}/notes").json()["data"]["entries"]
    elsewhere = files.get(f"/computer/files/{other}/notes/raw", params={"path": "hello.txt"})
    climbing = files.get(f"/computer/files/{user}/notes/raw", params={"path": "../.bashrc"})

    assert mine.status_code == 200 and mine.content == HELLO
    assert [entry["name"] for entry in listed] == ["hello.txt"], "only the project's folder of the home"
    assert elsewhere.status_code == 404, "another user's home is not this one's"
    assert climbing.status_code == 400
