"""appliance/chat_request.py: the operator's registry decides what runs; requests choose within it."""

from __future__ import annotations

import dataclasses

import pytest

from appliance import chat_request
from appliance.config import Config, ContextServerConfig, ModelProviderConfig
from appliance.config_loader import load_config
from appliance.errors import BadRequest, Forbidden
from appliance.http.bodies import ChatBody, parse


def request_for(config: Config, **body):
    return chat_request.complete(config, parse(ChatBody, {"prompt": "hi", **body}).to_proto())


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
