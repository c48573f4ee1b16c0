"""Request bodies of the HTTP API (the seed's fields): the gateway validates them before anything reaches
an engine or a runner, and the client checks its input with the same models before sending it.

Refusals raise InvalidBody, whose message is a template (the gateway's catalogues translate it)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Protocol, TypeVar

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

from rcoder_wire.contract import (
    ID,
    MAX_CPUS,
    MAX_MEMORY,
    MIN_CPUS,
    MIN_MEMORY,
    SESSION_ID,
    TEMPLATE_NAME_PATTERN,
    PermissionPolicy,
)

ID_PATTERN = f"^{ID}$"
SESSION_ID_PATTERN = f"^{SESSION_ID}$"
MAX_PROMPT_CHARS = 1_000_000
MAX_ATTACHMENT_CHARS = 20 * 1024 * 1024
UINT32_MAX = 2**32 - 1
# Standard Base64 (RFC 4648 section 4), padded, on one line.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# A path inside the workspace: relative, no empty segment, no `..` segment, no NUL (no lookaround, which
# the schema's regex engines do not share). A symlink leading out is still refused by the runner.
_SEGMENT = r"(?:[^/.\x00][^/\x00]*|\.[^/.\x00][^/\x00]*|\.\.[^/\x00]+|\.)"
WORKSPACE_PATH_PATTERN = f"^{_SEGMENT}(?:/{_SEGMENT})*/?$"
# A files API path: the same, or nothing (the workspace's top); a leading / names the top as well.
FILES_PATH_PATTERN = f"^/?(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?$"
# Some character that is not whitespace, whitespace being exactly what Python's str.strip() removes (the
# runner refuses a prompt that strips to nothing); spelled out, since `\s` differs between regex engines.
NOT_BLANK_PATTERN = r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# A repository a project is cloned from: https:// (http:// only for a host the operator configured, which
# the gateway checks), a host, and a path; no user or token in it, no query, no fragment.
REPOSITORY_URL_PATTERN = (
    r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[A-Za-z0-9._~%+,;=:!$'()*-]+)+/?$"
)
# A branch, tag or commit: git's ref characters, no `..` (checked beside the pattern).
GIT_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}$"
M = TypeVar("M", bound=BaseModel)


class InvalidBody(ValueError):
    """A refused body or id. `template` is the English message, with {fields} filled from `params`
    (the gateway's catalogues translate the template)."""

    status_code = 400
    code = "VALIDATION_ERROR"

    def __init__(self, template: str, **params: Any) -> None:
        self.template, self.params = template, params
        self.message = template.format(**params) if params else template
        super().__init__(self.message)


class HostBounds(Protocol):
    """The most one container may have on the host that runs it (the gateway's Bounds)."""

    cpus: float
    memory_bytes: int


def json_number(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("Input should be a number")
    return value


def whole(low: int, high: int) -> Any:
    """A JSON integer from `low` to `high`: 2 or 2.0 (JSON Schema's "integer" admits both), never
    true or "2". (The bounds go before the validator, so that the document states them.)"""
    return Annotated[int, Strict(False), Field(ge=low, le=high), BeforeValidator(json_number)]


ProjectId = Annotated[str, Field(pattern=ID_PATTERN)]
TemplateName = Annotated[str, Field(pattern=TEMPLATE_NAME_PATTERN)]
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


class AgentServer(Body):
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    command: ProcessText | None = Field(default=None, max_length=4096)
    args: list[ProcessText] = Field(default_factory=list, max_length=256)
    env: dict[ProcessText, ProcessText] = Field(default_factory=dict, json_schema_extra=NO_NUL_NAMES)
    metadata: dict[str, str] = Field(default_factory=dict)


class ContextServer(Body):
    """An MCP server the agent starts over stdio (only enabled ones with a command are passed on)."""

    source: Literal["custom", "local"] = "custom"
    enabled: bool = True
    command: ProcessText | None = Field(default=None, max_length=4096)
    args: list[ProcessText] = Field(default_factory=list, max_length=256)
    env: dict[ProcessText, ProcessText] = Field(default_factory=dict, json_schema_extra=NO_NUL_NAMES)


class ResourceLimits(Body):
    """Limits of the project's container, applied when it is created (the seed's bounds, within the
    host's CPUs and memory)."""

    memory_limit: whole(MIN_MEMORY, MAX_MEMORY) | None = Field(default=None, description="bytes")
    cpu_limit: float | None = Field(default=None, ge=MIN_CPUS, le=MAX_CPUS)
    swap_limit: whole(0, 2 * MAX_MEMORY) | None = Field(
        default=None,
        description="memory plus swap, in bytes; no more than the container's memory means no swap",
    )

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


# A pod_id needs the three fields that place the project in it: said in the document as the validator
# says it (POD_FIELDS present and not null, or no pod_id at all).
POD_FIELDS = ("pod_id", "tenant_id", "space_id", "isolation_type")
POD_SCHEMA = {
    "anyOf": [
        {"properties": {"pod_id": {"type": "null"}}},
        {"required": list(POD_FIELDS), "properties": {name: {"type": "string"} for name in POD_FIELDS}},
    ]
}


def _no_credentials_in(url: Any) -> Any:
    if isinstance(url, str) and "@" in url.partition("://")[2].partition("/")[0]:
        raise ValueError("the URL carries a user or a token: send the token as repository.credentials")
    return url


def _no_climbing(ref: Any) -> Any:
    if isinstance(ref, str) and (".." in ref or ref.endswith((".lock", "/", "."))):
        raise ValueError("not a git ref name")
    return ref


class RepositoryCredentials(Body):
    """A token for the repository's host, for this project's agent only: the appliance keeps it in
    memory and sends it on the agent's behalf; the agent's container never holds it."""

    username: str = Field(default="x-access-token", min_length=1, max_length=256, pattern=r"^[^:\s]+$")
    token: str = Field(min_length=1, max_length=4096, pattern=r"^\S+$", repr=False)


class Repository(Body):
    """A repository cloned into the project's folder before the agent's first turn."""

    url: Annotated[str, BeforeValidator(_no_credentials_in)] = Field(
        max_length=2048,
        pattern=REPOSITORY_URL_PATTERN,
        description="https://host/path (http:// for a host the operator configured)",
    )
    ref: Annotated[str, BeforeValidator(_no_climbing)] | None = Field(
        default=None,
        pattern=GIT_REF_PATTERN,
        description="a branch, tag or commit; default: the default branch",
    )
    depth: whole(1, 1_000_000) | None = Field(
        default=None, description="a shallow clone of this many commits"
    )
    credentials: RepositoryCredentials | None = None


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
    repository: Repository | None = Field(
        default=None,
        description="on a project's first turn only: cloned into its folder before the agent starts",
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
    template: TemplateName | None = Field(
        default=None,
        description="on a project's first turn: the template (GET /templates) it runs on from then on; "
        "later turns may name it again, not another",
    )

    @model_validator(mode="after")
    def a_pod_is_placed(self) -> ChatBody:
        missing = [name for name in POD_FIELDS[1:] if getattr(self, name) is None]
        if self.pod_id is not None and missing:
            raise ValueError(f"pod_id needs {', '.join(missing)} as well")
        return self


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


# A user_id names a Computer Agent project: it goes with a files or terminal token only (said in the
# document as the validator says it).
TOKEN_SCHEMA = {
    "anyOf": [
        {"properties": {"user_id": {"type": "null"}}},
        {"required": ["access", "user_id"], "properties": {"access": {"enum": ["files", "terminal"]}}},
    ]
}


class TokenBody(Body):
    model_config = ConfigDict(json_schema_extra=TOKEN_SCHEMA)

    project_id: ProjectId
    port: whole(1, 65535) = Field(default=5173, description="the preview's port inside the container")
    access: Literal["preview", "files", "terminal"] = Field(
        default="preview",
        description="what the token opens: the project's previews, its files (/agent/files/...) or a "
        "terminal in its container (/agent/terminal/...); a preview's token, meant to be shared, opens "
        "neither files nor terminals",
    )
    user_id: UserId | None = Field(
        default=None,
        description="for a files or terminal token of a Computer Agent project: the desktop's owner",
    )

    @model_validator(mode="after")
    def a_user_names_a_computer_project(self) -> TokenBody:
        if self.user_id is not None and self.access == "preview":
            raise ValueError('user_id goes with access "files" or "terminal" only')
        return self


class PodBody(Body):
    """A user's desktop, for one of their projects: the body of /computer/pod/ensure, /restart and
    /keepalive (named for the seed's paths: a desktop is not a pod)."""

    user_id: UserId
    project_id: ProjectId
    resource_limits: ResourceLimits | None = None


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


def parse(model: type[M], data: object, bounds: HostBounds | None = None) -> M:
    """Validate a request body (resource limits within `bounds`), or raise InvalidBody naming each
    offending field."""
    if not isinstance(data, dict):
        raise InvalidBody("the request body must be a JSON object")
    try:
        return model.model_validate(data, context={"bounds": bounds})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise InvalidBody("invalid request: {problems}", problems=problems) from None


def check_id(value: str, pattern: str = ID_PATTERN, what: str = "project_id") -> str:
    """`value`, if it is an id of that pattern (a project or user id by default), else InvalidBody."""
    if not re.fullmatch(pattern, value):
        allowed = (
            "'_', '.', ':' or '-' (at most 128)"
            if pattern == SESSION_ID_PATTERN
            else "'_', '.' or '-' (at most 64)"
        )
        raise InvalidBody(
            "invalid {what} {value!r}: use letters, digits, {allowed}",
            what=what,
            value=value[:80],
            allowed=allowed,
        )
    return value
