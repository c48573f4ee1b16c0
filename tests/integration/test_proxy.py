"""The proxy (nginx) in front of everything: previews with tokens, WebSockets, SSE, refusals, isolation."""

from __future__ import annotations

import io
import socket
import tarfile
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.integration.conftest import chat, project_id, wait_listening
from tests.integration.sse import stream
from tests.stack import agent_containers

pytestmark = pytest.mark.engine

WS_SERVER = Path(__file__).with_name("ws_echo_server.py")


def put_file(container, name: str, content: bytes) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.uid, info.gid = len(content), 1000, 1000
        tar.addfile(info, io.BytesIO(content))
    container.put_archive("/app/project_workspace", archive.getvalue())


@pytest.fixture
def dev_server(client, engine, stack):
    """A project whose container serves its workspace on port 5173, as a dev server would."""
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    put_file(container, "index.html", b"<h1>preview of the project</h1>")
    container.exec_run(
        ["python3", "-m", "http.server", "5173", "--directory", "/app/project_workspace"], detach=True
    )
    wait_listening(container, 5173)
    return project, container


def test_a_preview_opens_with_a_token_and_not_without(appliance, client, dev_server):
    project, _ = dev_server
    anonymous = httpx.Client(base_url=appliance.url)

    refused = anonymous.get(f"/proxy/{project}/5173/")
    issued = client.post("/proxy/token", json={"project_id": project, "port": 5173}).json()["data"]
    opened = anonymous.get(issued["preview_url"])
    again = anonymous.get(f"/proxy/{project}/5173/index.html")  # the cookie the first answer set
    with_key = client.get(f"/proxy/{project}/5173/index.html")

    assert refused.status_code == 401 and refused.json()["code"] == "4010"
    assert opened.status_code == 200 and "preview of the project" in opened.text
    assert (
        f"rcoder_p_{project}" in opened.headers["set-cookie"] and "HttpOnly" in opened.headers["set-cookie"]
    )
    assert again.status_code == 200 and "preview of the project" in again.text
    assert with_key.status_code == 200


def test_each_path_of_a_preview_reaches_its_own_file(appliance, client, dev_server):
    """One routing decision serves a whole preview (it is cached), but every request keeps its path."""
    project, container = dev_server
    put_file(container, "a.txt", b"first file")
    put_file(container, "b.txt", b"second file")
    token = client.post("/proxy/token", json={"project_id": project, "port": 5173}).json()["data"]["token"]
    browser = httpx.Client(base_url=appliance.url)

    first = browser.get(f"/proxy/{project}/5173/a.txt", params={"rcoder_token": token})
    second = browser.get(f"/proxy/{project}/5173/b.txt")
    missing = browser.get(f"/proxy/{project}/5173/nope.txt")

    assert (first.text, second.text) == ("first file", "second file")
    assert missing.status_code == 404


def test_a_token_for_one_project_does_not_open_another(appliance, client, dev_server):
    project, _ = dev_server
    other = project_id()
    token = client.post("/proxy/token", json={"project_id": other, "port": 5173}).json()["data"]["token"]

    response = httpx.get(f"{appliance.url}/proxy/{project}/5173/", params={"rcoder_token": token})

    assert response.status_code == 403 and "does not open" in response.json()["message"]


def test_a_kept_route_is_not_used_once_its_container_is_gone(appliance, client, dev_server):
    """The proxy keeps a decision 2 s; the gateway empties it when the container goes, so the next
    request is decided again (the container's address could already be another project's)."""
    project, _ = dev_server
    url = f"{appliance.url}/proxy/{project}/5173/index.html"
    key = {"x-api-key": appliance.api_key}
    assert httpx.get(url, headers=key).status_code == 200  # decided, and kept

    assert client.post("/agent/stop", json={"project_id": project}).status_code == 200
    after = httpx.get(url, headers=key)

    assert after.status_code == 404, after.text
    assert "has no running container" in after.json()["message"], "decided again, not the kept route"


def test_a_websocket_inside_the_container_works_through_the_proxy(appliance, client, engine, stack):
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, stack, project)
    put_file(container, "ws_echo_server.py", WS_SERVER.read_bytes())
    container.exec_run(["python3", "/app/project_workspace/ws_echo_server.py", "8765"], detach=True)
    wait_listening(container, 8765)
    url = appliance.url.replace("http://", "ws://") + f"/proxy/{project}/8765/echo"

    with connect(url, additional_headers={"x-api-key": appliance.api_key}) as ws:
        ws.send("你好, RCoder")
        assert ws.recv(timeout=5) == "你好, RCoder"
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=5) == b"\x00\x01binary"


def test_sse_through_the_proxy_arrives_event_by_event(client):
    session = chat(client, project_id(), "wait 3")["session_id"]
    started = time.monotonic()
    arrivals = [(time.monotonic() - started, event.event) for event in stream(client, session)]

    assert arrivals[0][1] == "prompt_start" and arrivals[-1][1] == "end_turn"
    assert arrivals[0][0] < 1.5, "the first event is not held back until the end"
    assert arrivals[-1][0] > 2.5, "the turn itself takes its time"
    progress = [t for t, kind in arrivals if kind == "agent_thought_chunk"]
    assert progress and max(progress) - min(progress) > 1.5, "events arrive spread over the turn"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/proxy/{gateway_port}/health", "belongs to the appliance"),
        ("/proxy/2375/version", "belongs to the appliance"),
        ("/proxy/{project}/50051/", "belongs to the appliance"),
        ("/proxy/{project}/80/", "outside the ports"),
        ("/proxy/{project}/60000/", "outside the ports"),
    ],
)
def test_the_appliances_own_ports_and_ports_outside_the_range_are_refused(
    appliance, client, dev_server, path, reason
):
    project, _ = dev_server
    gateway_port = appliance.gateway_url.rsplit(":", 1)[1]
    response = client.get(path.format(gateway_port=gateway_port, project=project))
    assert response.status_code == 403 and reason in response.json()["message"]


def test_the_proxys_conversations_with_the_gateway_are_hidden(appliance):
    assert httpx.get(f"{appliance.url}/internal/proxy-auth").status_code == 404


def test_a_desktop_route_without_a_desktop_is_answered_clearly(client):
    response = client.get("/computer/vnc/user-1/project-1/vnc.html")
    assert response.status_code == 404 and "no running desktop" in response.json()["message"]


def test_one_projects_container_cannot_reach_anothers(client, engine, stack):
    first, second = project_id(), project_id()
    chat(client, first, "hello")
    chat(client, second, "hello")
    [a] = agent_containers(engine, stack, first)
    [b] = agent_containers(engine, stack, second)
    b_address = b.attrs["NetworkSettings"]["Networks"][f"rcoder-{stack}-agents"]["IPAddress"]
    probe = f"import socket; socket.create_connection(('{b_address}', 50051), timeout=2)"

    from_a = a.exec_run(["python3", "-c", probe])
    from_b_itself = b.exec_run(["python3", "-c", probe.replace(b_address, "127.0.0.1")])

    assert from_a.exit_code != 0, "project A reached project B's runner"
    assert from_b_itself.exit_code == 0, "the probe works where the port is open"
    with socket.socket() as s:  # and the appliance (on the host) does reach it
        s.settimeout(2)
        s.connect((b_address, 50051))
