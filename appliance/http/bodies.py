"""Request bodies of the HTTP API (the seed's fields), validated before anything reaches Docker or a runner."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from appliance.containers.limits import MAX_CPUS, MAX_MEMORY, MIN_CPUS, MIN_MEMORY, Bounds, Limits
from appliance.errors import BadRequest
from appliance.projects import Pod
from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import ID, SESSION_ID, PermissionPolicy

ID_PATTERN = f"^{ID}$"
SESSION_ID_PATTERN = f"^{SESSION_ID}$"
MAX_PROMPT_CHARS = 1_000_000
MAX_ATTACHMENT_CHARS = 20 * 1024 * 1024
# The largest body a route takes (bytes): a prompt with its attachments, else a small JSON object.
CHAT_BODY_BYTES = 50 * 1024 * 1024  # the seed's limit
DEFAULT_BODY_BYTES = 64 * 1024
# An agent's request to its model carries the conversation so far, attachments included.
BODY_LIMITS = {
    "chat": CHAT_BODY_BYTES,
    "computer/chat": CHAT_BODY_BYTES,
    "internal/model/<path:path>": CHAT_BODY_BYTES,
}
MAX_BODY_BYTES = max(BODY_LIMITS.values())
UINT32_MAX = 2**32 - 1
# Standard Base64 (RFC 4648 section 4), padded, on one line.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# A path inside the workspace: relative, no empty segment, no `..` segment, no NUL (no lookaround, which
# the schema's regex engines do not share). A symlink leading out is still refused by the runner.
_SEGMENT = r"(?:[^/.\x00][^/\x00]*|\.[^/.\x00][^/\x00]*|\.\.[^/\x00]+|\.)"
WORKSPACE_PATH_PATTERN = f"^{_SEGMENT}(?:/{_SEGMENT})*/?$"
# Some character that is not whitespace, whitespace being exactly what Python's str.strip() removes (the
# runner refuses a prompt that strips to nothing); spelled out, since `\s` differs between regex engines.
NOT_BLANK_PATTERN = r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
M = TypeVar("M", bound=BaseModel)


def body_limit_of(route_path: str) -> int:
    """The largest body the route (Sanic's path, "chat") takes, in bytes."""
    return BODY_LIMITS.get(route_path, DEFAULT_BODY_BYTES)


def json_number(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("Input should be a number")
    return value


def whole(low: int, high: int) -> Any:
    """A JSON integer from `low` to `high`: 2 or 2.0 (JSON Schema's "integer" admits both), never
    true or "2". (The bounds go before the validator, so that the document states them.)"""
    return Annotated[int, Strict(False), Field(ge=low, le=high), BeforeValidator(json_number)]


ProjectId = Annotated[str, Field(pattern=ID_PATTERN)]
SessionId = Annotated[str, Field(pattern=SESSION_ID_PATTERN)]
UserId = Annotated[str, Field(pattern=ID_PATTERN)]
# What becomes a process's command, argument or environment: no NUL, which no process can be given.
ProcessText = Annotated[str, Field(pattern=r"^[^\x00]*$")]
NO_NUL_NAMES: dict[str, Any] = {"propertyNames": {"pattern": r"^[^\x00]*$"}}


class Body(BaseModel):
    # Seed clients send fields this version does not use (tenant_id, space_id, ...); they are ignored.
    # Strict: JSON's types as they are (no false for 0, no "2" for 2; but see Whole).
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)


class ModelProvider(Body):
    id: str = Field(min_length=1, max_length=128)
    name: str = ""
    base_url: str | None = Field(default=None, max_length=2048)
    api_key: str | None = Field(default=None, max_length=4096)
    requires_openai_auth: bool | None = None
    default_model: str = Field(default="", max_length=256)
    api_protocol: Literal["anthropic", "openai"] | None = None

    def to_proto(self) -> agent_pb2.ModelProviderConfig:
        return agent_pb2.ModelProviderConfig(
            id=self.id,
            provider=self.name,
            model=self.default_model,
            api_key=self.api_key,
            api_base=self.base_url,
            requires_openai_auth=self.requires_openai_auth,
            api_protocol=self.api_protocol,
        )


class AgentServer(Body):
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    command: ProcessText | None = Field(default=None, max_length=4096)
    args: list[ProcessText] = Field(default_factory=list, max_length=256)
    env: dict[ProcessText, ProcessText] = Field(default_factory=dict, json_schema_extra=NO_NUL_NAMES)
    metadata: dict[str, str] = Field(default_factory=dict)

    def to_proto(self) -> agent_pb2.ChatAgentServerConfig:
        return agent_pb2.ChatAgentServerConfig(**self.model_dump())


class ContextServer(Body):
    """An MCP server the agent starts over stdio (only enabled ones with a command are passed on)."""

    source: Literal["custom", "local"] = "custom"
    enabled: bool = True
    command: ProcessText | None = Field(default=None, max_length=4096)
    args: list[ProcessText] = Field(default_factory=list, max_length=256)
    env: dict[ProcessText, ProcessText] = Field(default_factory=dict, json_schema_extra=NO_NUL_NAMES)

    def to_proto(self) -> agent_pb2.ChatContextServerConfig:
        return agent_pb2.ChatContextServerConfig(**self.model_dump())


class ResourceLimits(Body):
    """Limits of the project's container, applied when it is created (the seed's bounds, within the
    host's CPUs and memory)."""

    memory_limit: whole(MIN_MEMORY, MAX_MEMORY) | None = Field(default=None, description="bytes")
    cpu_limit: float | None = Field(default=None, ge=MIN_CPUS, le=MAX_CPUS)
    swap_limit: whole(0, 2 * MAX_MEMORY) | None = Field(
        default=None,
        description="memory plus swap, in bytes; no more than the container's memory means no swap",
    )

    def to_limits(self) -> Limits:
        return Limits(memory_bytes=self.memory_limit, cpus=self.cpu_limit, memory_swap_bytes=self.swap_limit)

    @model_validator(mode="after")
    def within_the_host(self, info: ValidationInfo) -> ResourceLimits:
        bounds = (info.context or {}).get("bounds")
        if bounds is None:
            return self
        if self.cpu_limit is not None and self.cpu_limit > bounds.cpus:
            raise ValueError(f"cpu_limit {self.cpu_limit:g} is more than this host's {bounds.cpus:g} CPUs")
        if self.memory_limit is not None and self.memory_limit > bounds.memory_bytes:
            raise ValueError(
                f"memory_limit {self.memory_limit} is more than this host's {bounds.memory_bytes} bytes"
            )
        return self


class AgentConfig(Body):
    agent_server: AgentServer | None = None
    context_servers: dict[str, ContextServer] = Field(default_factory=dict, max_length=64)
    resource_limits: ResourceLimits | None = None

    def to_proto(self) -> agent_pb2.ChatAgentConfig:
        return agent_pb2.ChatAgentConfig(
            agent_server=self.agent_server.to_proto() if self.agent_server else None,
            context_servers={name: server.to_proto() for name, server in self.context_servers.items()},
        )


class FilePath(Body):
    path: str = Field(
        min_length=1,
        max_length=4096,
        pattern=WORKSPACE_PATH_PATTERN,
        description="relative to the project's workspace, without `..`",
    )


class Base64Data(Body):
    data: str = Field(max_length=MAX_ATTACHMENT_CHARS, pattern=BASE64_PATTERN, description="Base64")
    mime_type: str = Field(min_length=1, max_length=256)


class Url(Body):
    url: str = Field(min_length=1, max_length=8192)


class FilePathSource(Body):
    source_type: Literal["FilePath"]
    data: FilePath


class Base64Source(Body):
    source_type: Literal["Base64"]
    data: Base64Data


class UrlSource(Body):
    source_type: Literal["Url"]
    data: Url


class Dimensions(Body):
    width: whole(0, UINT32_MAX)
    height: whole(0, UINT32_MAX)


class AttachmentContent(Body):
    id: str = Field(default="", max_length=256)
    source: Annotated[FilePathSource | Base64Source | UrlSource, Field(discriminator="source_type")]
    filename: str | None = Field(default=None, max_length=1024)
    description: str | None = Field(default=None, max_length=10_000)
    mime_type: str | None = Field(default=None, max_length=256)
    dimensions: Dimensions | None = None
    duration: float | None = Field(default=None, ge=0)
    # Below 2**63: a larger whole number reaches us as a float, which JSON Schema still calls an integer.
    size: whole(0, 2**63 - 1) | None = None


class Attachment(Body):
    """A seed attachment: {"type": "Image", "content": {"id", "source": {"source_type", "data"}, ...}}."""

    type: Literal["Text", "Image", "Audio", "Document"]
    content: AttachmentContent

    def to_proto(self) -> agent_pb2.Attachment:
        c = self.content
        source = agent_pb2.AttachmentSource()
        if isinstance(c.source, FilePathSource):
            source.file_path = c.source.data.path
        elif isinstance(c.source, Base64Source):
            source.base64.CopyFrom(agent_pb2.Base64Data(**c.source.data.model_dump()))
        else:
            source.url = c.source.data.url
        common = {"id": c.id, "source": source, "filename": c.filename, "description": c.description}
        if self.type == "Text":
            return agent_pb2.Attachment(text=agent_pb2.TextAttachment(**common))
        if self.type == "Image":
            dimensions = agent_pb2.Dimensions(**c.dimensions.model_dump()) if c.dimensions else None
            mime = c.mime_type or (c.source.data.mime_type if isinstance(c.source, Base64Source) else "")
            return agent_pb2.Attachment(
                image=agent_pb2.ImageAttachment(**common, mime_type=mime, dimensions=dimensions)
            )
        if self.type == "Audio":
            return agent_pb2.Attachment(audio=agent_pb2.AudioAttachment(**common, duration=c.duration))
        return agent_pb2.Attachment(document=agent_pb2.DocumentAttachment(**common, size=c.size))


# A pod_id needs the three fields that place the project in it: said in the document as the validator
# says it (POD_FIELDS present and not null, or no pod_id at all).
POD_FIELDS = ("pod_id", "tenant_id", "space_id", "isolation_type")
POD_SCHEMA = {
    "anyOf": [
        {"properties": {"pod_id": {"type": "null"}}},
        {"required": list(POD_FIELDS), "properties": {name: {"type": "string"} for name in POD_FIELDS}},
    ]
}


class ChatFields(Body):
    prompt: str = Field(
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        pattern=NOT_BLANK_PATTERN,
        description="not only whitespace",
    )
    project_id: ProjectId | None = None
    session_id: SessionId | None = None
    request_id: str | None = Field(default=None, max_length=256)
    system_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    user_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    model_provider: ModelProvider | None = None
    agent_config: AgentConfig | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=64)
    # How the agent's permission requests are answered: allow, deny, or ask the client (permission_request
    # events, answered with POST /agent/permission). Default: the agent's policy in the registry.
    permission_policy: PermissionPolicy | None = None
    data_source_attachments: list[str] = Field(default_factory=list, max_length=64)

    def limits(self) -> Limits | None:
        limits = self.agent_config.resource_limits if self.agent_config else None
        return limits.to_limits() if limits is not None else None

    def to_proto(self) -> agent_pb2.ChatRequest:
        """The prompt as the client sent it (which project it is for, the turn's service decides)."""
        return agent_pb2.ChatRequest(
            session_id=self.session_id or "",
            prompt=self.prompt,
            request_id=self.request_id,
            system_prompt=self.system_prompt,
            user_prompt=self.user_prompt,
            model_config=self.model_provider.to_proto() if self.model_provider else None,
            agent_config=self.agent_config.to_proto() if self.agent_config else None,
            permission_policy=self.permission_policy,
            attachments=[attachment.to_proto() for attachment in self.attachments],
            data_source_attachments=self.data_source_attachments,
        )


class ChatBody(ChatFields):
    """A prompt for a project's agent: in a container of the project's own, or in a pod (the seed's
    pod_id) that it shares with other projects, in a folder of its own laid out by tenant and space."""

    model_config = ConfigDict(json_schema_extra=POD_SCHEMA)

    pod_id: ProjectId | None = Field(default=None, description="a container shared by several projects")
    tenant_id: ProjectId | None = Field(default=None, description="with pod_id: the project's tenant")
    space_id: ProjectId | None = Field(default=None, description="with pod_id: the project's space")
    isolation_type: Literal["tenant", "space", "project"] | None = Field(
        default=None, description="with pod_id: what the pod is shared by"
    )

    @model_validator(mode="after")
    def a_pod_is_placed(self) -> ChatBody:
        missing = [name for name in POD_FIELDS[1:] if getattr(self, name) is None]
        if self.pod_id is not None and missing:
            raise ValueError(f"pod_id needs {', '.join(missing)} as well")
        return self

    def pod(self, project_id: str) -> Pod | None:
        if self.pod_id is None or self.tenant_id is None or self.space_id is None:
            return None
        return Pod.of(self.pod_id, self.tenant_id, self.space_id, project_id)


class PermissionBody(Body):
    """The answer to a permission_request event."""

    project_id: ProjectId
    user_id: UserId | None = Field(
        default=None, description="for a Computer Agent project: the desktop's user"
    )
    session_id: SessionId
    request_id: str = Field(min_length=1, max_length=128, description="the event's requestId")
    option_id: str | None = Field(
        default=None, max_length=128, description="one of the event's options; none answers 'cancelled'"
    )


class TokenBody(Body):
    project_id: ProjectId
    port: whole(1, 65535) = Field(default=5173, description="the preview's port inside the container")


class PodBody(Body):
    """A user's desktop (pod), for one of their projects."""

    user_id: UserId
    project_id: ProjectId
    resource_limits: ResourceLimits | None = None

    def limits(self) -> Limits | None:
        return self.resource_limits.to_limits() if self.resource_limits is not None else None


class ProjectFields(Body):
    project_id: ProjectId
    session_id: SessionId | None = None


class ProjectBody(ProjectFields):
    """The body of /agent/session/cancel and /agent/stop."""

    pod_id: ProjectId | None = Field(default=None, description="the project's pod, if it is in one")


class ComputerChatBody(ChatFields):
    """A prompt for the agent of one of the user's projects, in the user's desktop."""

    user_id: UserId


class ComputerProjectBody(ProjectFields):
    """The body of /computer/agent/stop, /status and /session/cancel."""

    user_id: UserId


def parse(model: type[M], data: object, bounds: Bounds | None = None) -> M:
    """Validate a request body (resource limits within `bounds`), or raise BadRequest naming each
    offending field."""
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(data, context={"bounds": bounds})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise BadRequest("invalid request: {problems}", problems=problems) from None


def whole_number(raw: str, name: str, low: int, high: int) -> int:
    """A query or header value that must be a whole number from `low` to `high` (digits only: no sign,
    no blank), or BadRequest naming it."""
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(
            "{name} must be a whole number from {low} to {high}, got {raw!r}",
            name=name,
            low=low,
            high=high,
            raw=raw[:40],
        )
    return int(raw)


def check_id(value: str, pattern: str = ID_PATTERN, what: str = "project_id") -> str:
    if not re.fullmatch(pattern, value):
        allowed = (
            "'_', '.', ':' or '-' (at most 128)"
            if pattern == SESSION_ID_PATTERN
            else "'_', '.' or '-' (at most 64)"
        )
        raise BadRequest(
            "invalid {what} {value!r}: use letters, digits, {allowed}",
            what=what,
            value=value[:80],
            allowed=allowed,
        )
    return value
