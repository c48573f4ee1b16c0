"""Translate a ChatRequest into ACP terms: content blocks, MCP servers, the agent to run."""

from __future__ import annotations

from typing import Any

import acp
from acp.schema import EnvVariable, McpServerStdio

from rcoder_rpc import agent_pb2
from runner.agents import AgentSpec, resolve_agent
from runner.errors import InvalidRequest

USER_PROMPT_PLACEHOLDER = "{user_prompt}"


def prompt_text(request: agent_pb2.ChatRequest) -> str:
    """The prompt, wrapped in the request's user_prompt template when it has one."""
    if not request.prompt.strip():
        raise InvalidRequest("prompt is empty")
    if request.HasField("user_prompt") and USER_PROMPT_PLACEHOLDER in request.user_prompt:
        return request.user_prompt.replace(USER_PROMPT_PLACEHOLDER, request.prompt)
    return request.prompt


def content_blocks(request: agent_pb2.ChatRequest) -> list[Any]:
    return [acp.text_block(prompt_text(request))]


def session_meta(request: agent_pb2.ChatRequest) -> dict[str, Any]:
    """ACP `_meta` for session/new: the system prompt travels there, as the adapters expect."""
    if request.HasField("system_prompt") and request.system_prompt.strip():
        return {"systemPrompt": {"append": request.system_prompt}}
    return {}


def mcp_servers(request: agent_pb2.ChatRequest) -> list[McpServerStdio]:
    """The request's enabled stdio context servers, as ACP MCP servers."""
    servers = []
    for name, server in sorted(request.agent_config.context_servers.items()):
        if not server.enabled or not server.HasField("command"):
            continue
        servers.append(
            McpServerStdio(
                name=name,
                command=server.command,
                args=list(server.args),
                env=[EnvVariable(name=k, value=v) for k, v in sorted(server.env.items())],
            )
        )
    return servers


def agent_spec(request: agent_pb2.ChatRequest, default_agent_id: str) -> AgentSpec:
    server = request.agent_config.agent_server
    agent_id = server.agent_id if request.agent_config.HasField("agent_server") else None
    return resolve_agent(agent_id or None, default_agent_id)


def agent_key(spec: AgentSpec, request: agent_pb2.ChatRequest) -> str:
    """Identifies the agent process a request needs: a different agent or provider id restarts it."""
    provider = request.model_config.id if request.HasField("model_config") else ""
    return f"{spec.id}/{provider}"
