"""Which agent a request runs, with which model provider, MCP servers and permission policy.

Agents come from the operator's registry (config `agents`). A request may pick one by id; it may
describe a command of its own, or add environment variables, only where the operator allows custom
agents: both amount to running arbitrary code.
"""

from __future__ import annotations

from appliance.config import Config, read_secret
from appliance.errors import BadRequest, Forbidden
from appliance.models import AgentServer, ChatBody
from appliance.projects import ProjectRef
from rcoder_rpc import agent_pb2


def agent_server(config: Config, requested: AgentServer | None) -> agent_pb2.ChatAgentServerConfig:
    """The resolved agent, as the runner takes it: command, args, env and kind."""
    custom = requested is not None and (requested.command or requested.env)
    if custom and not config.allow_custom_agents:
        raise Forbidden(
            "this appliance runs only its configured agents (GET /agents); a custom command or environment "
            "needs allow_custom_agents in the operator's configuration"
        )
    if requested is not None and requested.command:
        return agent_pb2.ChatAgentServerConfig(
            agent_id=requested.agent_id or "custom",
            command=requested.command,
            args=requested.args,
            env=requested.env,
            metadata={"kind": requested.metadata.get("kind", "plain")},
        )
    agent_id = (requested.agent_id if requested is not None else None) or config.default_agent_id
    definition = config.agents.get(agent_id)
    if definition is None:
        raise BadRequest(
            f"unknown agent {agent_id!r}; this appliance has: {', '.join(sorted(config.agents))}"
        )
    env = {**definition.env, **(requested.env if requested is not None else {})}
    return agent_pb2.ChatAgentServerConfig(
        agent_id=agent_id,
        command=definition.command,
        args=definition.args,
        env=env,
        metadata={"kind": definition.kind},
    )


def permission_policy(config: Config, body: ChatBody, agent_id: str) -> str:
    """The request's policy, else the agent's, else allow."""
    if body.permission_policy:
        return body.permission_policy
    definition = config.agents.get(agent_id)
    return definition.permission_policy if definition is not None else "allow"


def model_provider(config: Config, body: ChatBody) -> agent_pb2.ModelProviderConfig | None:
    """The request's model provider, else the operator's default one (if configured)."""
    if body.model_provider is not None:
        return body.model_provider.to_proto()
    default = config.default_model_provider
    if not default.id:
        return None
    key = read_secret(default.api_key, default.api_key_file, "default_model_provider.api_key_file")
    return agent_pb2.ModelProviderConfig(
        id=default.id,
        provider=default.name,
        model=default.default_model,
        api_key=key or None,
        api_base=default.base_url or None,
        api_protocol=default.api_protocol,
    )


def context_servers(config: Config, body: ChatBody) -> dict[str, agent_pb2.ChatContextServerConfig]:
    """The request's MCP servers, else the operator's defaults (a request's list replaces them)."""
    if body.agent_config is not None and body.agent_config.context_servers:
        return {name: s.to_proto() for name, s in body.agent_config.context_servers.items()}
    return {
        name: agent_pb2.ChatContextServerConfig(
            source="local", enabled=server.enabled, command=server.command, args=server.args, env=server.env
        )
        for name, server in config.default_context_servers.items()
    }


def public_provider(request: agent_pb2.ChatRequest) -> dict[str, str] | None:
    """What may be shown and stored of the request's model provider: everything but its key."""
    if not request.HasField("model_config"):
        return None
    provider = request.model_config
    return {
        "id": provider.id,
        "name": provider.provider,
        "api_protocol": provider.api_protocol,
        "default_model": provider.model,
    }


def chat_request(config: Config, body: ChatBody, ref: ProjectRef, session_id: str) -> agent_pb2.ChatRequest:
    """The runner's ChatRequest for a validated /chat body, with everything the operator decides filled in."""
    request = body.to_proto(ref, session_id)
    requested = body.agent_config.agent_server if body.agent_config is not None else None
    server = agent_server(config, requested)
    request.agent_config.agent_server.CopyFrom(server)
    request.agent_config.context_servers.clear()
    for name, mcp in context_servers(config, body).items():
        request.agent_config.context_servers[name].CopyFrom(mcp)
    provider = model_provider(config, body)
    if provider is not None:
        request.model_config.CopyFrom(provider)
    request.permission_policy = permission_policy(config, body, server.agent_id)
    request.permission_timeout_seconds = config.permission_timeout_seconds
    return request
