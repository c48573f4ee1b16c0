"""appliance/chat_request.py: the prompt reaches the runner as the client sent it; the operator's
registry decides what runs, and requests choose within it."""

from __future__ import annotations

import dataclasses

import pytest

from appliance import chat_request
from appliance.config import Config, ContextServerConfig, ModelProviderConfig
from appliance.config_loader import load_config
from appliance.errors import BadRequest, Forbidden
from appliance.projects import Pod, ProjectRef
from rcoder_rpc import agent_pb2
from rcoder_wire.bodies import ChatBody, parse


def request_for(config: Config, **body):
    return chat_request.build(config, parse(ChatBody, {"prompt": "hi", **body}), ProjectRef("p1"), "", None)


def test_a_valid_chat_becomes_the_runners_request():
    body = parse(
        ChatBody,
        {
            "prompt": "hi",
            "project_id": "demo-1",
            "request_id": "r1",
            "model_provider": {"id": "p1", "api_key": "k", "api_protocol": "anthropic", "default_model": "m"},
            "agent_config": {"context_servers": {"fs": {"command": "mcp-fs", "args": ["--root", "."]}}},
            "unknown_field": "ignored: a field this version does not know",
        },
    )
    request = chat_request.build(Config(), body, ProjectRef("demo-1"), "", None)
    assert (request.prompt, request.request_id, request.session_id) == ("hi", "r1", "")
    assert request.agent_config.context_servers["fs"].command == "mcp-fs"
    assert list(request.agent_config.context_servers["fs"].args) == ["--root", "."]
    assert request.model_config.api_protocol == "anthropic" and request.model_config.model == "m"


def test_the_request_says_where_the_turn_runs_and_the_agent_sees_the_stand_in():
    body = parse(ChatBody, {"prompt": "hi", "model_provider": {"id": "p", "api_key": "sk-real"}})
    seen = []

    def stand_in(provider: agent_pb2.ModelProviderConfig, operators: bool) -> agent_pb2.ModelProviderConfig:
        seen.append((provider.api_key, operators))
        return agent_pb2.ModelProviderConfig(id=provider.id, api_key="stand-in")

    pod = Pod.of("pod1", "acme", "web", "p1")
    in_pod = chat_request.build(Config(), body, ProjectRef("p1"), "s-1", pod, stand_in)
    desktop = chat_request.build(Config(), body, ProjectRef("p1", "ann"), "", None)

    assert (in_pod.project_id, in_pod.session_id, in_pod.service_type, in_pod.workspace, in_pod.user_id) == (
        "p1",
        "s-1",
        "RCoder",
        "acme/web/p1",
        "",
    )
    assert (desktop.service_type, desktop.workspace, desktop.user_id) == ("ComputerAgentRunner", "", "ann")
    assert in_pod.model_config.api_key == "stand-in" and seen == [("sk-real", False)], "the client's key"
    assert desktop.model_config.api_key == "sk-real", "without a stand-in, the provider as sent"


def test_a_new_container_prestarts_the_default_agent_with_no_model_provider():
    config = dataclasses.replace(
        Config(), default_model_provider=ModelProviderConfig(id="op", api_key="sk-op")
    )
    request = chat_request.prestarted(config)
    assert (request.project_id, request.agent_config.agent_server.agent_id) == ("prestarted", "demo")
    assert not request.HasField("model_config"), "no key in the container's environment"


def attachment(kind: str, source_type: str, data: dict) -> dict:
    return {"type": kind, "content": {"id": "a", "source": {"source_type": source_type, "data": data}}}


def test_base64_attachment_data_is_passed_on():
    text = attachment("Text", "Base64", {"data": "aGk=", "mime_type": "text/plain"})
    request = request_for(Config(), attachments=[text])
    assert request.attachments[0].text.source.base64.data == "aGk="


@pytest.mark.parametrize("path", ["notes.md", "src/main.py", ".env", "..hidden", "./a", "docs/"])
def test_a_file_attachment_inside_the_workspace_is_passed_on(path):
    document = attachment("Document", "FilePath", {"path": path})
    request = request_for(Config(), attachments=[document])
    assert request.attachments[0].document.source.file_path == path


def test_the_default_agent_comes_from_the_registry():
    request = request_for(Config())
    server = request.agent_config.agent_server
    assert (server.agent_id, server.command, server.metadata["kind"]) == (
        "demo",
        "rcoder-demo-agent",
        "plain",
    )
    assert request.permission_policy == "allow"


def test_a_request_picks_a_registered_agent_by_id():
    provider = {"id": "p", "api_key": "k"}
    server = request_for(
        Config(), agent_config={"agent_server": {"agent_id": "codex"}}, model_provider=provider
    ).agent_config.agent_server
    assert (server.command, server.metadata["kind"]) == ("codex-acp", "codex")


def test_an_agent_that_needs_a_model_key_gets_none_is_refused():
    with pytest.raises(Forbidden, match="needs a model provider with an api_key"):
        request_for(Config(), agent_config={"agent_server": {"agent_id": "claude-code"}})


def test_an_unknown_agent_is_a_bad_request_listing_the_known_ones():
    with pytest.raises(BadRequest, match="claude-code, codex, demo"):
        request_for(Config(), agent_config={"agent_server": {"agent_id": "nope"}})


@pytest.mark.parametrize(
    "server", [{"command": "/bin/sh", "args": ["-c", "id"]}, {"env": {"NODE_OPTIONS": "-r x"}}]
)
def test_custom_commands_and_environments_need_the_operators_consent(server):
    with pytest.raises(Forbidden, match="allow_custom_agents"):
        request_for(Config(), agent_config={"agent_server": server})
    allowed = dataclasses.replace(Config(), allow_custom_agents=True)
    assert request_for(allowed, agent_config={"agent_server": server}).agent_config.agent_server


def test_the_operators_model_provider_and_mcp_servers_apply_when_a_request_names_none(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("sk-operator\n")
    config = dataclasses.replace(
        Config(),
        default_model_provider=ModelProviderConfig(id="op", api_key_file=str(secret), default_model="m1"),
        default_context_servers={"files": ContextServerConfig(command="mcp-files", args=("--ro",))},
    )
    request = request_for(config)
    assert (request.model_config.id, request.model_config.api_key, request.model_config.model) == (
        "op",
        "sk-operator",
        "m1",
    )
    assert list(request.agent_config.context_servers["files"].args) == ["--ro"]

    own = request_for(
        config,
        model_provider={"id": "mine", "api_key": "sk-mine"},
        agent_config={"context_servers": {"mine": {"command": "mcp-mine"}}},
    )
    assert own.model_config.id == "mine" and set(own.agent_config.context_servers) == {"mine"}


def test_the_permission_policy_is_the_requests_else_the_agents():
    config = load_config({}, environ={})
    config = dataclasses.replace(
        config,
        agents={**config.agents, "demo": dataclasses.replace(config.agents["demo"], permission_policy="ask")},
    )
    assert request_for(config).permission_policy == "ask"
    assert request_for(config, permission_policy="deny").permission_policy == "deny"
