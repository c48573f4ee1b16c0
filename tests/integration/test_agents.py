"""Real agents: the Claude Code and Codex ACP adapters in the agent container, against a scripted
model endpoint; and the permission policies, MCP servers and secrets handling around them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from appliance.model_forwarding import STAND_IN_PREFIX
from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all, stream
from tests.stack import agent_containers, image, run_appliance

pytestmark = pytest.mark.engine

REPLY = "The fake model says hello to RCoder."
FAKE_SERVER = Path(__file__).with_name("fake_model_server.py")


@pytest.fixture(scope="module")
def fake_model(engine, appliance, model_port):
    """The scripted model endpoint, on the host, on the one host port the appliance opens to its
    containers (as an operator would for a model server on the host); agents reach it through their
    network's gateway address."""
    with fake_model_server(engine, appliance.stack, model_port) as urls:
        yield urls


@contextmanager
def fake_model_server(engine, stack: str, port: int) -> Iterator[tuple[str, str]]:
    """The fake model server on the host's `port`: its URL from here, and from the stack's agents."""
    container = engine.containers.run(
        image("base"),
        ["python3", "/srv/fake_model_server.py", str(port)],
        name=f"rcoder-{stack}-fake-model-{uuid.uuid4().hex[:6]}",
        labels={"rcoder.stack": stack, "rcoder.kind": "test"},
        environment={"FAKE_REPLY": REPLY, "PYTHONUNBUFFERED": "1"},
        volumes={str(FAKE_SERVER): {"bind": "/srv/fake_model_server.py", "mode": "ro"}},
        network_mode="host",
        detach=True,
    )
    try:
        network = engine.networks.get(f"rcoder-{stack}-agents")
        host = network.attrs["IPAM"]["Config"][0]["Gateway"]
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: httpx.get(f"{url}/_requests", timeout=1), 30, "the fake model server answering")
        yield url, f"http://{host}:{port}"
    finally:
        print(container.logs().decode()[-3000:])
        container.remove(force=True)


def recorded(fake_model: str) -> list[dict]:
    return httpx.get(f"{fake_model}/_requests").json()


REAL_AGENTS = [("claude-code", "anthropic", "claude-fake-1"), ("codex", "openai", "gpt-5.4")]
# Every place a process or file in the agent's container could hold a secret: its processes'
# environments, and the writable mounts (the root file system is read-only).
TRACES = r"""
for f in /proc/[0-9]*/environ; do tr '\0' '\n' < "$f" 2>/dev/null; done | grep -F -- "$1"
grep -rIlF -- "$1" /app /home/agent /tmp 2>/dev/null
true
"""
# A model request from inside a container, as the agent's code could make it: prints the status.
MODEL_REQUEST = """
import json, sys, urllib.request as u, urllib.error as e
url, header, credential = sys.argv[1:4]
body = json.dumps({"model": "claude-fake-1", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
request = u.Request(url, data=body.encode(), headers={header: credential, "content-type": "application/json"})
try:
    print(u.urlopen(request, timeout=20).status)
except e.HTTPError as x:
    print(x.code)
"""


def traces(container, needle: str, user: str = "agent") -> list[str]:
    """Where `needle` appears in the container: environment entries and file names (as the agent's user)."""
    result = container.exec_run(["sh", "-c", TRACES, "traces", needle], user=user)
    return result.output.decode(errors="replace").split()


def run_real_agent(
    client, fake_model, agent_id: str, protocol: str, model: str, **extra
) -> tuple[str, str, list]:
    """A turn of a real adapter against the fake model, with a provider of the client's (and `extra`
    fields in the chat): the project, the provider's key and the turn's events."""
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
        **extra,
    )
    return project, key, read_all(client, data["session_id"])


@pytest.mark.parametrize(("agent_id", "protocol", "model"), REAL_AGENTS)
def test_a_real_adapter_streams_the_models_reply_and_never_holds_its_key(
    client, fake_model, agent_id, protocol, model, appliance, engine
):
    project, key, events = run_real_agent(client, fake_model, agent_id, protocol, model)

    text = "".join(
        e.data["data"]["content"].get("text", "") for e in events if e.event == "agent_message_chunk"
    )
    [container] = agent_containers(engine, appliance.stack, project)
    if events[-1].event != "end_turn" or REPLY not in text:
        print(container.logs().decode()[-5000:])
    assert events[-1].event == "end_turn", [(e.event, e.data["data"]) for e in events[-3:]]
    assert REPLY in text
    calls = [r for r in recorded(fake_model[0]) if r["model"] == model]
    assert calls, recorded(fake_model[0])
    credential = calls[-1]["x-api-key"] if protocol == "anthropic" else calls[-1]["authorization"]
    assert credential in (key, f"Bearer {key}"), "the model server gets the real key, from the appliance"
    assert traces(container, key) == [], "the key is nowhere in the agent's container"
    assert any(STAND_IN_PREFIX in entry for entry in traces(container, STAND_IN_PREFIX)), (
        "the agent holds a stand-in instead"
    )


def stand_in_of(container) -> tuple[str, str]:
    """The Claude Code agent's stand-in credential and base URL, read from its environment."""
    entries = dict(line.split("=", 1) for line in traces(container, "ANTHROPIC_") if "=" in line)
    return entries["ANTHROPIC_API_KEY"], entries["ANTHROPIC_BASE_URL"]


def model_request(container, url: str, credential: str) -> str:
    result = container.exec_run(["python3", "-c", MODEL_REQUEST, url, "x-api-key", credential], user="agent")
    return result.output.decode().strip()


def test_a_stand_in_opens_the_model_only_from_its_own_container(client, fake_model, appliance, engine):
    """An agent's code that copies its stand-in elsewhere gains nothing: another project's container is
    refused with it, and so is a forged one."""
    project, _, events = run_real_agent(client, fake_model, *REAL_AGENTS[0])
    assert events[-1].event == "end_turn"
    [own] = agent_containers(engine, appliance.stack, project)
    stand_in, base_url = stand_in_of(own)
    other_project = project_id()
    chat(client, other_project, "hello")
    [other] = agent_containers(engine, appliance.stack, other_project)

    assert model_request(own, f"{base_url}/v1/messages", stand_in) == "200"
    assert model_request(other, f"{base_url}/v1/messages", stand_in) == "401"
    assert model_request(own, f"{base_url}/v1/messages", STAND_IN_PREFIX + "0" * 40) == "401"
    assert model_request(own, f"{base_url}/../../internal/proxy-auth", stand_in) in ("400", "403", "404")


def test_an_operators_stand_in_still_opens_the_model_after_the_gateway_restarts(engine, fake_model):
    """Grants live in the gateway's memory: a turn that outlives a gateway restart must keep its model.
    The operator's stand-in is taken again from its own container (a client's key is kept nowhere)."""
    control, _ = fake_model
    key, model = f"sk-operator-{uuid.uuid4().hex}", REAL_AGENTS[0][2]
    httpx.post(f"{control}/_expect", json={"key": key, "model": model})
    provider = {
        "RCODER_MODEL_PROVIDER_ID": "operators",
        "RCODER_MODEL_PROVIDER_BASE_URL": control,  # the gateway forwards from the host's network
        "RCODER_MODEL_PROVIDER_API_KEY": key,
        "RCODER_MODEL_PROVIDER_MODEL": model,
        "RCODER_MODEL_PROVIDER_PROTOCOL": "anthropic",
    }
    with (
        run_appliance(engine, RCODER_WARM_POOL_SIZE="0", **provider) as appliance,
        appliance.client() as client,
    ):
        project = project_id()
        data = chat(client, project, "Say hello.", agent_config={"agent_server": {"agent_id": "claude-code"}})
        assert read_all(client, data["session_id"])[-1].event == "end_turn"
        [own] = agent_containers(engine, appliance.stack, project)
        stand_in, base_url = stand_in_of(own)
        before = model_request(own, f"{base_url}/v1/messages", stand_in)

        appliance.restart_gateway(engine)
        after = model_request(own, f"{base_url}/v1/messages", stand_in)
        copied = model_request(
            other_container(client, engine, appliance), f"{base_url}/v1/messages", stand_in
        )

    assert (before, after) == ("200", "200")
    assert copied == "401", "restored only for the container it was made for"


def other_container(client, engine, appliance):
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, appliance.stack, project)
    return container


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


# The fetch server simplifies a page to its article (Readability.js): a heading alone is not one.
PREVIEW = (
    "<html><title>RCoder preview</title><h1>Hello from the app being built</h1>"
    "<p>This page is served from inside the agent container, for its browser tools to check.</p></html>"
)


def completed_tool_texts(events) -> list[str]:
    """The text of each tool call that completed, in order."""
    return [
        e.data["data"]["content"][0]["content"]["text"]
        for e in events
        if e.event == "tool_call_update"
        and e.data["data"]["status"] == "completed"
        and e.data["data"].get("content")
    ]


def test_the_default_browser_tools_open_the_app_the_agent_serves(client, engine, appliance):
    """The image's chrome-devtools and fetch MCP servers, given to every session by default, reach a
    page served inside the agent's own container."""
    project = project_id()
    session = chat(client, project, f'create index.html with content "{PREVIEW}"')["session_id"]
    written = read_all(client, session)
    assert written[-1].event == "end_turn"
    [container] = agent_containers(engine, appliance.stack, project)
    container.exec_run(
        ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"],
        user="agent",
        workdir="/app/project_workspace",
        detach=True,
    )
    probe = ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8000), timeout=1)"]
    eventually(lambda: container.exec_run(probe).exit_code == 0, 20, "the preview server listening")

    url = "http://127.0.0.1:8000/index.html"
    prompt = (
        f'mcp tools, then mcp call chrome-devtools new_page {{"url": "{url}"}}, '
        'mcp call chrome-devtools take_snapshot {"pageId": 2} '
        f'and mcp call fetch fetch {{"url": "{url}"}}'
    )
    chat(client, project, prompt, session_id=session)
    events = read_all(client, session, last_event_id=written[-1].id)

    assert events[-1].event == "end_turn"
    tools, opened, snapshot, fetched = completed_tool_texts(events)
    assert "chrome-devtools: " in tools and "new_page" in tools and "take_snapshot" in tools
    assert "fetch: fetch" in tools
    assert "RCoder preview" in opened
    assert 'heading "Hello from the app being built"' in snapshot
    assert fetched.endswith("served from inside the agent container, for its browser tools to check.")
