"""Real agents: the Claude Code and Codex ACP adapters in the agent container, against a scripted
model endpoint; and the permission policies, MCP servers and secrets handling around them."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all, stream
from tests.stack import agent_containers, image

pytestmark = pytest.mark.engine

REPLY = "The fake model says hello to RCoder."
FAKE_SERVER = Path(__file__).with_name("fake_model_server.py")


@pytest.fixture(scope="module")
def fake_model(engine, appliance, model_port):
    """The scripted model endpoint, on the host, on the one host port the appliance opens to its
    containers (as an operator would for a model server on the host); agents reach it through their
    network's gateway address."""
    port = model_port
    container = engine.containers.run(
        image("base"),
        ["python3", "/srv/fake_model_server.py", str(port)],
        name=f"rcoder-{appliance.stack}-fake-model-{uuid.uuid4().hex[:6]}",
        labels={"rcoder.stack": appliance.stack, "rcoder.kind": "test"},
        environment={"FAKE_REPLY": REPLY, "PYTHONUNBUFFERED": "1"},
        volumes={str(FAKE_SERVER): {"bind": "/srv/fake_model_server.py", "mode": "ro"}},
        network_mode="host",
        detach=True,
    )
    network = engine.networks.get(f"rcoder-{appliance.stack}-agents")
    host = network.attrs["IPAM"]["Config"][0]["Gateway"]
    url = f"http://127.0.0.1:{port}"
    eventually(lambda: httpx.get(f"{url}/_requests", timeout=1), 30, "the fake model server answering")
    yield url, f"http://{host}:{port}"
    print(container.logs().decode()[-3000:])
    container.remove(force=True)


def recorded(fake_model: str) -> list[dict]:
    return httpx.get(f"{fake_model}/_requests").json()


@pytest.mark.parametrize(
    ("agent_id", "protocol", "model"),
    [("claude-code", "anthropic", "claude-fake-1"), ("codex", "openai", "gpt-5.4")],
)
def test_a_real_adapter_streams_the_models_reply(
    client, fake_model, agent_id, protocol, model, appliance, engine
):
    key = f"sk-{agent_id}-{uuid.uuid4().hex}"
    project = project_id()
    control, endpoint = fake_model
    httpx.post(f"{control}/_expect", json={"key": key, "model": model})  # it refuses anything else
    data = chat(
        client,
        project,
        "Say hello.",
        agent_config={"agent_server": {"agent_id": agent_id}},
        model_provider={
            "id": f"fake-{protocol}",
            "name": "Fake",
            "base_url": endpoint + ("/v1" if protocol == "openai" else ""),
            "api_key": key,
            "default_model": model,
            "api_protocol": protocol,
        },
    )
    events = read_all(client, data["session_id"])

    text = "".join(
        e.data["data"]["content"].get("text", "") for e in events if e.event == "agent_message_chunk"
    )
    if events[-1].event != "end_turn" or REPLY not in text:
        [container] = agent_containers(engine, appliance.stack, project)
        print(container.logs().decode()[-5000:])
    assert events[-1].event == "end_turn", [(e.event, e.data["data"]) for e in events[-3:]]
    assert REPLY in text
    calls = [r for r in recorded(control) if r["model"] == model]
    assert calls, recorded(control)
    credential = calls[-1]["x-api-key"] if protocol == "anthropic" else calls[-1]["authorization"]
    assert credential in (key, f"Bearer {key}")


def test_the_agent_list_names_the_registry(client):
    listed = client.get("/agents").json()["data"]
    agents = {a["id"]: a for a in listed["agents"]}
    assert set(agents) == {"demo", "claude-code", "codex"}
    assert agents["demo"]["default"] is True and agents["codex"]["kind"] == "codex"
    assert listed["allow_custom_agents"] is False


def test_a_custom_command_is_refused_unless_the_operator_allows_it(client):
    response = client.post(
        "/chat",
        json={
            "prompt": "hi",
            "project_id": project_id(),
            "agent_config": {"agent_server": {"command": "/bin/sh"}},
        },
    )
    assert response.status_code == 403 and "allow_custom_agents" in response.json()["message"]


def permission_request(events) -> dict:
    for event in events:
        if event.event == "permission_request":
            return event.data["data"]
    raise AssertionError("no permission_request event")


def workspace_file(engine, appliance, project: str, name: str) -> bytes | None:
    [container] = agent_containers(engine, appliance.stack, project)
    result = container.exec_run(["cat", f"/app/project_workspace/{name}"])
    return result.output if result.exit_code == 0 else None


def test_ask_surfaces_the_request_and_the_clients_answer_lets_the_tool_act(client, engine, appliance):
    project = project_id()
    session = chat(client, project, "create asked.txt", permission_policy="ask")["session_id"]
    events = stream(client, session)
    request = permission_request(events)
    assert {o["optionId"] for o in request["options"]} == {"allow", "reject"}
    assert workspace_file(engine, appliance, project, "asked.txt") is None, (
        "nothing happens before the answer"
    )

    answer = {
        "project_id": project,
        "session_id": session,
        "request_id": request["requestId"],
        "option_id": "allow",
    }
    answered = client.post("/agent/permission", json=answer)
    rest = list(events)

    assert answered.status_code == 200, answered.text
    assert rest[-1].event == "end_turn"
    assert any(e.event == "permission_resolved" and e.data["data"]["optionId"] == "allow" for e in rest)
    assert workspace_file(engine, appliance, project, "asked.txt") == b"Hello from the RCoder demo agent!\n"
    assert client.post("/agent/permission", json=answer).status_code == 404, "a request is answered once"


def test_deny_keeps_the_workspace_as_it_was(client, engine, appliance):
    project = project_id()
    session = chat(client, project, "create denied.txt", permission_policy="deny")["session_id"]
    events = read_all(client, session)
    assert events[-1].event == "end_turn"
    assert workspace_file(engine, appliance, project, "denied.txt") is None


def test_context_servers_reach_the_agents_session(client):
    servers = {
        "files": {"command": "mcp-server-files", "args": ["--root", "."], "enabled": True},
        "off": {"command": "mcp-server-off", "enabled": False},
    }
    session = chat(client, project_id(), "list mcp", agent_config={"context_servers": servers})["session_id"]
    text = "".join(
        e.data["data"]["content"]["text"]
        for e in read_all(client, session)
        if e.event == "agent_message_chunk"
    )
    assert "MCP servers of this session: files." in text


def test_a_session_the_agent_cannot_resume_is_reported_as_new(client):
    project = project_id()
    data = chat(client, project, "hello", session_id="an-old-session-id")
    assert data["session_resumed"] is False and data["session_id"] != "an-old-session-id"
    assert "could not be resumed" in data["error"]
    read_all(client, data["session_id"])
    again = chat(client, project, "hello again", session_id=data["session_id"])
    assert again["session_resumed"] is True and again["session_id"] == data["session_id"]


def test_no_api_key_appears_in_logs_state_or_responses(client, engine, appliance, tmp_path):
    key = f"sk-secret-{uuid.uuid4().hex}"
    project = project_id()
    provider = {
        "id": "leak-check",
        "name": "Fake",
        "api_key": key,
        "default_model": "m",
        "api_protocol": "anthropic",
    }
    responses = [
        client.post(
            "/chat", json={"prompt": "create x.txt", "project_id": project, "model_provider": provider}
        )
    ]
    session = responses[0].json()["data"]["session_id"]
    responses.append(client.get(f"/agent/progress/{session}"))
    responses.append(client.get(f"/agent/status/{project}"))
    responses.append(client.get("/agents"))
    responses.append(
        client.post("/chat", json={"prompt": "x", "project_id": "bad id", "model_provider": provider})
    )
    assert responses[2].json()["data"]["model_provider"] == {
        "id": "leak-check",
        "name": "Fake",
        "api_protocol": "anthropic",
        "default_model": "m",
    }

    gateway = appliance.gateway(engine)
    archive, _ = gateway.get_archive("/var/lib/rcoder")
    state = b"".join(archive)
    logs = gateway.logs()
    assert key.encode() not in state, "the key is not in the DuckDB files"
    assert key.encode() not in logs, "the key is not in the gateway's log"
    for response in responses:
        assert key not in response.text
