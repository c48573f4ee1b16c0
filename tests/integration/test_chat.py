"""A prompt through the real gateway, a real agent container and the demo agent, streamed back as SSE."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all, stream
from tests.stack import agent_containers

pytestmark = pytest.mark.engine

TERMINAL_TYPES = {"end_turn", "cancelled", "error", "max_tokens", "max_turn_requests", "refusal"}


def test_a_prompt_streams_every_step_and_acts_on_the_workspace(client, engine, stack):
    project = project_id()
    data = chat(client, project, "create hello.txt", request_id="req-1")
    assert data["project_id"] == project and data["session_id"]

    events = read_all(client, data["session_id"])

    kinds = [e.event for e in events]
    assert kinds[0] == "prompt_start" and kinds[-1] == "end_turn"
    assert {"plan", "agent_message_chunk", "tool_call", "tool_call_update"} <= set(kinds)
    assert [e.id for e in events] == list(range(events[0].id, events[0].id + len(events)))
    first = events[0].data
    assert first["sessionId"] == data["session_id"] and first["messageType"] == "sessionPromptStart"
    assert events[-1].data["messageType"] == "sessionPromptEnd"
    reply = "".join(e.data["data"]["content"]["text"] for e in events if e.event == "agent_message_chunk")
    assert "I wrote hello.txt" in reply
    [container] = agent_containers(engine, stack, project)
    exit_code, output = container.exec_run(["cat", "/app/project_workspace/hello.txt"])
    assert exit_code == 0 and output.decode() == "Hello from the RCoder demo agent!\n"


def test_the_agent_container_is_labelled_limited_and_unprivileged(client, engine, stack):
    project = project_id()
    chat(client, project, "hello")

    [container] = agent_containers(engine, stack, project)
    host = container.attrs["HostConfig"]
    assert container.labels["rcoder.managed"] == "true"
    assert host["Privileged"] is False and host["CapDrop"] == ["ALL"] and host["ReadonlyRootfs"] is True
    assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [f"rcoder-{stack}-agents"]
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert mounts["/app/project_workspace"]["Name"] == f"rcoder-{stack}-ws-{project}"
    assert container.attrs["Config"]["User"] == "agent"


def test_a_reconnecting_client_gets_every_remaining_event_exactly_once(client):
    project = project_id()
    session = chat(client, project, "wait 2 then create slow.txt")["session_id"]

    seen = []
    for event in stream(client, session):
        seen.append(event)
        if len(seen) == 5:
            break  # the client goes away mid-stream
    rest = read_all(client, session, last_event_id=seen[-1].id)

    everything = read_all(client, session)  # the whole turn, replayed once it has ended
    assert [e.id for e in seen + rest] == [e.id for e in everything]
    assert rest[-1].event == "end_turn"
    # Nothing is left for a client that has seen the terminal event: 204 tells EventSource to stop.
    response = client.get(f"/agent/progress/{session}", headers={"Last-Event-ID": str(rest[-1].id)})
    assert response.status_code == 204


def test_cancel_ends_a_running_turn_as_the_agent_stops(client):
    project = project_id()
    session = chat(client, project, "wait 60")["session_id"]
    events = stream(client, session)
    assert next(events).event == "prompt_start"

    response = client.post("/agent/session/cancel", json={"project_id": project, "session_id": session})
    assert response.status_code == 200 and response.json()["data"]["success"] is True
    terminal = next(e for e in events if e.event in TERMINAL_TYPES)

    assert terminal.event == "cancelled" and terminal.data["data"]["reason"] == "Cancelled"
    assert terminal.data["data"]["description"] == "The turn was cancelled.", (
        "the agent stopped the turn itself (the runner did not have to end it after its grace period)"
    )


def test_concurrent_first_chats_share_one_container(client, engine, stack):
    """Five first chats at once: one container. Each continues the project's latest session, so the
    ones that find it busy with another's turn get 409, as any chat to a busy session does."""
    project = project_id()
    with ThreadPoolExecutor(5) as pool:
        replies = list(
            pool.map(lambda _: client.post("/chat", json={"prompt": "hi", "project_id": project}), range(5))
        )

    statuses = sorted(reply.status_code for reply in replies)
    assert statuses[0] == 200 and set(statuses) <= {200, 409}, [reply.text for reply in replies]
    for reply in replies:
        if reply.status_code == 409:
            assert "already running a turn" in reply.json()["message"]
    assert len(agent_containers(engine, stack, project)) == 1


def test_stop_removes_the_container_and_keeps_the_workspace(client, engine, stack):
    project = project_id()
    session = chat(client, project, 'create keep.txt with content "kept"')["session_id"]
    read_all(client, session)

    response = client.post("/agent/stop", json={"project_id": project})

    assert response.status_code == 200 and response.json()["data"]["success"] is True
    assert agent_containers(engine, stack, project) == []
    assert engine.volumes.get(f"rcoder-{stack}-ws-{project}")
    status = client.get(f"/agent/status/{project}").json()["data"]
    assert status["is_alive"] is False
    # The next chat starts a new container on the same workspace.
    session = chat(client, project, "create other.txt")["session_id"]
    read_all(client, session)
    [container] = agent_containers(engine, stack, project)
    assert container.exec_run(["cat", "/app/project_workspace/keep.txt"]).output == b"kept"


def test_status_reports_a_running_turn_as_active(client):
    project = project_id()
    session = chat(client, project, "wait 30")["session_id"]

    status = client.get(f"/agent/status/{project}").json()["data"]

    assert status == status | {
        "project_id": project,
        "is_alive": True,
        "session_id": session,
        "status": "Active",
    }
    client.post("/agent/session/cancel", json={"project_id": project})


def test_errors_carry_the_right_status_and_the_seed_envelope(client):
    project = project_id()
    session = chat(client, project, "wait 30")["session_id"]

    busy = client.post("/chat", json={"prompt": "more", "project_id": project, "session_id": session})
    bad_id = client.post("/chat", json={"prompt": "hi", "project_id": "../etc"})
    no_prompt = client.post("/chat", json={"project_id": project})
    not_json = client.post("/chat", content=b"{", headers={"content-type": "application/json"})
    unknown_session = client.get("/agent/progress/no-such-session")
    unknown_project = client.get(f"/agent/status/{project_id()}")
    client.post("/agent/session/cancel", json={"project_id": project})

    assert busy.status_code == 409 and busy.json()["code"] == "9010"
    assert bad_id.status_code == 400 and "project_id" in bad_id.json()["message"]
    assert no_prompt.status_code == 400 and "prompt" in no_prompt.json()["message"]
    assert not_json.status_code == 400
    assert unknown_session.status_code == 404 and unknown_session.json()["code"] == "SESSION_NOT_FOUND"
    assert unknown_project.status_code == 404
    for response in (busy, bad_id, unknown_session, unknown_project):
        assert set(response.json()) == {"code", "message", "data", "tid", "success"}
        assert response.json()["success"] is False


def test_a_quoted_session_id_means_the_same_on_both_progress_routes(client):
    """A session id's ':' may come quoted (%3A), as the fuzzer sends it: both routes read it as ':'."""
    for route in ("/agent/progress/", "/computer/progress/"):
        reply = client.get(route + "g%3Aquoted-id")
        assert reply.status_code == 404 and "'g:quoted-id'" in reply.json()["message"], (route, reply.text)
