"""The runner's ChatRequest, built in one place (`build`): the prompt as the client sent it, what the
operator decides (which agent runs, with which model provider, MCP servers and permission policy), where
the turn runs (project, service, pod folder, desktop user), and the model provider as the agent sees it.

Agents come from the operator's registry (config `agents`). A request may pick one by id; it may
describe a command of its own, or add environment variables, only where the operator allows custom
agents: both amount to running arbitrary code.
"""

from __future__ import annotations

from collections.abc import Callable

from appliance.config import Config, read_secret
from appliance.errors import BadRequest, Forbidden
from appliance.projects import Pod, ProjectRef
from rcoder_rpc import agent_pb2
from rcoder_wire.bodies import (
    AgentConfig,
    Attachment,
    Base64Source,
    ChatFields,
    FilePathSource,
    ModelProvider,
)
from rcoder_wire.contract import KIND_CLAUDE_CODE, KIND_CODEX, KIND_PLAIN

# Agents that cannot open a session without a model provider's key.
MODEL_AGENTS = (KIND_CLAUDE_CODE, KIND_CODEX)

# The model provider as the agent is to see it, given the real one and whether it is the operator's.
StandIn = Callable[[agent_pb2.ModelProviderConfig, bool], agent_pb2.ModelProviderConfig]


def build(
    config: Config,
    prompt: ChatFields,
    ref: ProjectRef,
    session_id: str,
    pod: Pod | None,
    stand_in: StandIn | None = None,
) -> agent_pb2.ChatRequest:
    """The runner's request for one turn: the prompt as the client sent it, what the operator decides,
    and where it runs (the project, in `session_id` or a new session, in its pod's folder if it lives
    in a pod); the model provider as `stand_in` makes it."""
    request = _prompt(prompt, session_id)
    _operators_choices(config, request)
    request.project_id = ref.project_id
    request.service_type = ref.service_type
    if pod is not None:
        request.workspace = pod.folder
    if stand_in is not None and request.HasField("model_config"):
        # The agent gets a stand-in for the key (unless forwarding is off): the key stays here.
        request.model_config.CopyFrom(stand_in(request.model_config, prompt.model_provider is None))
    if ref.user_id:
        request.user_id = ref.user_id
    if prompt.repository is not None:
        # Never its credentials: the broker holds those.
        repository = prompt.repository
        request.repository.CopyFrom(
            agent_pb2.Repository(url=repository.url, ref=repository.ref or "", depth=repository.depth or 0)
        )
    return request


def prestarted(config: Config) -> agent_pb2.ChatRequest:
    """The request a new agent container's runner starts its agent for, before any chat: the default
    agent as a chat that names none would get it, with no model provider (so no key is in the
    container's environment)."""
    request = agent_pb2.ChatRequest(project_id="prestarted")
    request.agent_config.agent_server.CopyFrom(agent_server(config, None))
    return request


def _prompt(prompt: ChatFields, session_id: str) -> agent_pb2.ChatRequest:
    """The prompt as the client sent it."""
    return agent_pb2.ChatRequest(
        session_id=session_id,
        prompt=prompt.prompt,
        request_id=prompt.request_id,
        system_prompt=prompt.system_prompt,
        user_prompt=prompt.user_prompt,
        model_config=_model_provider(prompt.model_provider) if prompt.model_provider else None,
        agent_config=_agent_config(prompt.agent_config) if prompt.agent_config else None,
        permission_policy=prompt.permission_policy,
        attachments=[_attachment(attachment) for attachment in prompt.attachments],
        data_source_attachments=prompt.data_source_attachments,
    )


def _operators_choices(config: Config, request: agent_pb2.ChatRequest) -> None:
    """Fill in everything the operator decides: the agent, and the model provider, MCP servers and
    permission policy where the request names none."""
    settings = request.agent_config
    requested = settings.agent_server if settings.HasField("agent_server") else None
    server = agent_server(config, requested)
    settings.agent_server.CopyFrom(server)
    if not settings.context_servers:
        for name, mcp in default_context_servers(config).items():
            settings.context_servers[name].CopyFrom(mcp)
    if not request.HasField("model_config") and (provider := default_model_provider(config)):
        request.model_config.CopyFrom(provider)
    if server.metadata.get("kind") in MODEL_AGENTS and not request.model_config.api_key:
        raise Forbidden(
            "agent {agent_id!r} needs a model provider with an api_key: send model_provider, or the "
            "operator sets default_model_provider",
            agent_id=server.agent_id,
        )
    request.permission_policy = permission_policy(config, request.permission_policy, server.agent_id)
    request.permission_timeout_seconds = config.permission_timeout_seconds


def _model_provider(provider: ModelProvider) -> agent_pb2.ModelProviderConfig:
    return agent_pb2.ModelProviderConfig(
        id=provider.id,
        provider=provider.name,
        model=provider.default_model,
        api_key=provider.api_key,
        api_base=provider.base_url,
        requires_openai_auth=provider.requires_openai_auth,
        api_protocol=provider.api_protocol,
    )


def _agent_config(settings: AgentConfig) -> agent_pb2.ChatAgentConfig:
    server = settings.agent_server
    return agent_pb2.ChatAgentConfig(
        agent_server=agent_pb2.ChatAgentServerConfig(**server.model_dump()) if server else None,
        context_servers={
            name: agent_pb2.ChatContextServerConfig(**mcp.model_dump())
            for name, mcp in settings.context_servers.items()
        },
    )


def _attachment(attachment: Attachment) -> agent_pb2.Attachment:
    c = attachment.content
    source = agent_pb2.AttachmentSource()
    if isinstance(c.source, FilePathSource):
        source.file_path = c.source.data.path
    elif isinstance(c.source, Base64Source):
        source.base64.CopyFrom(agent_pb2.Base64Data(**c.source.data.model_dump()))
    else:
        source.url = c.source.data.url
    common = {"id": c.id, "source": source, "filename": c.filename, "description": c.description}
    if attachment.type == "Text":
        return agent_pb2.Attachment(text=agent_pb2.TextAttachment(**common))
    if attachment.type == "Image":
        dimensions = agent_pb2.Dimensions(**c.dimensions.model_dump()) if c.dimensions else None
        mime = c.mime_type or (c.source.data.mime_type if isinstance(c.source, Base64Source) else "")
        return agent_pb2.Attachment(
            image=agent_pb2.ImageAttachment(**common, mime_type=mime, dimensions=dimensions)
        )
    if attachment.type == "Audio":
        return agent_pb2.Attachment(audio=agent_pb2.AudioAttachment(**common, duration=c.duration))
    return agent_pb2.Attachment(document=agent_pb2.DocumentAttachment(**common, size=c.size))


def agent_server(
    config: Config, requested: agent_pb2.ChatAgentServerConfig | None
) -> agent_pb2.ChatAgentServerConfig:
    """The resolved agent, as the runner takes it: command, args, env and kind."""
    command = requested.command if requested is not None and requested.HasField("command") else ""
    custom = requested is not None and (command or requested.env)
    if custom and not config.allow_custom_agents:
        raise Forbidden(
            "this appliance runs only its configured agents (GET /agents); a custom command or environment "
            "needs allow_custom_agents in the operator's configuration"
        )
    requested_id = requested.agent_id if requested is not None and requested.HasField("agent_id") else ""
    if requested is not None and command:
        return agent_pb2.ChatAgentServerConfig(
            agent_id=requested_id or "custom",
            command=command,
            args=requested.args,
            env=requested.env,
            metadata={"kind": requested.metadata.get("kind", KIND_PLAIN)},
        )
    agent_id = requested_id or config.default_agent_id
    definition = config.agents.get(agent_id)
    if definition is None:
        raise BadRequest(
            "unknown agent {agent_id!r}; this appliance has: {agents}",
            agent_id=agent_id,
            agents=", ".join(sorted(config.agents)),
        )
    env = {**definition.env, **(requested.env if requested is not None else {})}
    return agent_pb2.ChatAgentServerConfig(
        agent_id=agent_id,
        command=definition.command,
        args=definition.args,
        env=env,
        metadata={"kind": definition.kind},
    )


def permission_policy(config: Config, requested: str, agent_id: str) -> str:
    """The request's policy, else the agent's, else allow."""
    if requested:
        return requested
    definition = config.agents.get(agent_id)
    return definition.permission_policy if definition is not None else "allow"


def default_model_provider(config: Config) -> agent_pb2.ModelProviderConfig | None:
    """The operator's default model provider (if configured), for requests that name none."""
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


def default_context_servers(config: Config) -> dict[str, agent_pb2.ChatContextServerConfig]:
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
