"""Response bodies of the HTTP API: the seed's envelope around each route's data.

The routes build their `data` from these models, so the API documentation cannot drift
from what is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from rcoder_wire.contract import AgentKind, PermissionPolicy


class Envelope(BaseModel):
    """The seed's envelope. `tid` is the request's trace id."""

    code: str = Field(description='"0000" on success, else an error code')
    message: str
    tid: str | None = Field(description="OpenTelemetry trace id of the request")
    success: bool


class ErrorReply(Envelope):
    data: None = None


class Health(BaseModel):
    status: Literal["healthy", "degraded"] = Field(
        description="degraded: the gateway answers and serves what runs, but takes no new work (see problem)"
    )
    timestamp: str
    service: str
    problem: str | None = Field(default=None, description="why the gateway is degraded")
    workspace_bytes: int | None = Field(
        default=None, description="the most a new workspace or desktop home holds; null: unbounded"
    )
    workspace_quota_problem: str | None = Field(default=None, description="why workspaces are unbounded")


class ChatData(BaseModel):
    project_id: str
    session_id: str = Field(description="stream its events from /agent/progress/{session_id}")
    error: str | None = None
    request_id: str | None = None
    session_resumed: bool | None = Field(
        default=None, description="when a session_id was sent: whether it was resumed (false: a new session)"
    )


class ChatReply(Envelope):
    data: ChatData


class AgentInfo(BaseModel):
    id: str
    kind: AgentKind
    description: str
    permission_policy: PermissionPolicy
    default: bool


class AgentsData(BaseModel):
    agents: list[AgentInfo]
    allow_custom_agents: bool = Field(description="whether a request may give a command of its own")


class AgentsReply(Envelope):
    data: AgentsData


class TemplateInfo(BaseModel):
    name: str
    origin: Literal["config", "api"] = Field(description="the configuration's, or built by POST /templates")
    source: str = Field(description="the image it is made from, or the recipe it was built from")
    description: str
    state: Literal["building", "ready", "failed"]
    error: str | None = Field(description="why its build failed")
    user: str | None = Field(description="uid:gid its agents run as, once it is ready")
    pool_size: int = Field(description="the containers its warm pool keeps started (the configuration's)")


class TemplatesData(BaseModel):
    templates: list[TemplateInfo]


class TemplatesReply(Envelope):
    data: TemplatesData


class TemplateRemovedData(BaseModel):
    name: str


class TemplateRemovedReply(Envelope):
    data: TemplateRemovedData


class PermissionData(BaseModel):
    request_id: str
    option_id: str | None = Field(description="the chosen option; null: cancelled")


class PermissionReply(Envelope):
    data: PermissionData


class TokenData(BaseModel):
    token: str
    expires_at: int = Field(description="unix seconds")
    preview_url: str | None = Field(default=None, description="relative to the proxy's address")
    files_url: str | None = Field(
        default=None, description="the project's files listing, relative to the proxy's address"
    )
    terminal_url: str | None = Field(
        default=None, description="the project's terminal (a WebSocket), relative to the proxy's address"
    )


class TokenReply(Envelope):
    data: TokenData


class ProxyStatus(BaseModel):
    status: Literal["running", "unreachable"]
    listen_port: int
    message: str


class ProxyStatusReply(Envelope):
    data: ProxyStatus


class ProxyStats(BaseModel):
    active_connections: int
    reading: int
    writing: int
    waiting: int
    accepted_connections: int
    handled_connections: int
    requests: int
    kept_decisions: int = Field(description="routing decisions the proxy keeps now (2 s each)")
    decision_cache_free_bytes: int
    decisions: dict[str, int] = Field(
        description="routing decisions the gateway made since it started, by outcome (admitted, or a status)"
    )


class ProxyStatsReply(Envelope):
    data: ProxyStats


class ProxyConfig(BaseModel):
    listen_port: int
    allowed_ports: str = Field(description="the ports /proxy routes may reach, low-high")
    backend_host: str = Field(description="where the seed's /proxy/{port}/ route goes")
    default_backend_port: int
    token_ttl_seconds: int
    decision_keep_seconds: int
    routes: list[str]


class ProxyConfigReply(Envelope):
    data: ProxyConfig


class DesktopData(BaseModel):
    success: bool
    proxy_vnc_url: str = Field(description="noVNC through the proxy, connected, with the token")
    proxy_websocket_url: str
    proxy_audio_url: str = Field(description="the audio player page; its stream is ws under it")
    proxy_ime_url: str = Field(description="the IME WebSocket")
    direct_vnc_url: str = Field(description="inside the appliance's network only")
    direct_websocket_url: str
    container_id: str
    container_ip: str | None
    user_id: str
    project_id: str
    token: str = Field(description="opens this user's desktop routes; also in the URLs above")
    expires_at: int
    message: str


class DesktopReply(Envelope):
    data: DesktopData


class ContainerInfoData(BaseModel):
    container_id: str
    status: str


# The Pod* models keep the names of the seed's /computer/pod/* routes: ensure and status answer for a
# user's desktop, count and list for every agent, desktop and pod container. Only a pod_id names a pod,
# a container several projects share.
class PodEnsureData(BaseModel):
    created: bool
    container_info: ContainerInfoData
    message: str


class PodEnsureReply(Envelope):
    data: PodEnsureData


class PodStatusData(BaseModel):
    alive: bool
    status: str
    container_id: str | None = None
    container_name: str | None = None
    timestamp: str
    message: str


class PodStatusReply(Envelope):
    data: PodStatusData


class VncStatusData(BaseModel):
    vnc_ready: bool
    novnc_ready: bool
    message: str
    uptime_seconds: int
    container_id: str


class VncStatusReply(Envelope):
    data: VncStatusData


class PodCountData(BaseModel):
    total_count: int
    by_service_type: dict[str, int] = Field(
        description="rcoder (agents) and computer_agent_runner (desktops)"
    )
    timestamp: str


class PodCountReply(Envelope):
    data: PodCountData


class PodListItem(BaseModel):
    container_id: str
    container_name: str
    container_ip: str | None
    status: str
    service_type: Literal["rcoder", "computer_agent_runner"]
    project_id: str | None = None
    user_id: str | None = None


class PodListData(BaseModel):
    containers: list[PodListItem]
    total: int
    returned: int
    paginated: bool
    timestamp: str


class PodListReply(Envelope):
    data: PodListData


class KeepaliveData(BaseModel):
    existed: bool = Field(description="whether the user's desktop was running")
    created: bool
    container_info: ContainerInfoData | None
    previous_activity_time: int | None = Field(description="unix ms")
    current_activity_time: int = Field(description="unix ms")
    time_until_cleanup: int = Field(description="seconds of inactivity before the desktop may be removed")
    message: str


class KeepaliveReply(Envelope):
    data: KeepaliveData


class CancelData(BaseModel):
    success: bool
    session_id: str = Field(description='the cancelled session, or "all"')


class CancelReply(Envelope):
    data: CancelData


class StopData(BaseModel):
    success: bool
    project_id: str
    session_id: str | None = None
    message: str


class StopReply(Envelope):
    data: StopData


class ComputerStopData(BaseModel):
    success: bool
    user_id: str
    project_id: str
    result: Literal["stopped", "not_found", "already_stopped", "no_desktop"] = Field(
        description="no_desktop: the user's desktop is not running, so neither is the agent"
    )
    message: str


class ComputerStopReply(Envelope):
    data: ComputerStopData


class ComputerStatusData(BaseModel):
    user_id: str
    project_id: str
    is_alive: bool = Field(description="whether the project's agent runs in the user's desktop")
    session_id: str | None = Field(description="the project's latest session")
    status: Literal["idle", "busy"] | None = Field(description="busy while a turn runs; null if not alive")
    last_activity: str
    created_at: str


class ComputerStatusReply(Envelope):
    data: ComputerStatusData


class ModelProviderInfo(BaseModel):
    id: str
    name: str
    api_protocol: str
    default_model: str


class StatusData(BaseModel):
    project_id: str
    is_alive: bool = Field(description="whether the project's agent container runs")
    session_id: str | None = Field(description="the project's latest session")
    status: Literal["Active", "Idle"] | None = Field(
        description="Active while a turn runs; null if not alive"
    )
    last_activity: str
    created_at: str
    model_provider: ModelProviderInfo | None = Field(
        default=None, description="the latest chat's, without key"
    )
    template: str | None = Field(
        default=None, description="the template the project runs on (null: the agent image)"
    )


class StatusReply(Envelope):
    data: StatusData


class ProgressEventData(BaseModel):
    """The `data:` of each SSE event; `id:` is its sequence number and `event:` its subType."""

    sessionId: str
    messageType: Literal["sessionPromptStart", "sessionPromptEnd", "agentSessionUpdate", "error"]
    subType: str
    data: dict[str, Any]
    timestamp: str


class FileEntry(BaseModel):
    """One entry of a folder, or the file a PUT wrote."""

    name: str
    type: Literal["file", "dir", "symlink", "other"] = Field(
        description="other: a device, FIFO or socket, listed but never read (403)"
    )
    size: int = Field(description="bytes (0 for a folder; a link's target's length for a link)")
    mtime: datetime = Field(description="last modified, RFC 3339, UTC")
    mode: int = Field(description="the permission bits (st_mode & 0o7777)")
    target: str | None = Field(default=None, description="a link's target, as written")


class FileUsage(BaseModel):
    """The workspace's file system: its quota where it has one (a bounded volume)."""

    used: int = Field(description="bytes")
    size: int = Field(description="bytes")
    free: int = Field(description="bytes a write may still use")


class FileList(BaseModel):
    path: str = Field(description='the folder, relative to the root ("" is the root)')
    entries: list[FileEntry] = Field(description="sorted by name")
    truncated: bool = Field(description="more entries follow: ask again with after=<the last name>")
    usage: FileUsage


class FileListReply(Envelope):
    data: FileList


class FileEntryReply(Envelope):
    data: FileEntry


class RemovedReply(Envelope):
    """The reply to a removal: nothing but success."""

    data: None = None


class ExtractData(BaseModel):
    files: int = Field(description="entries written: files, folders and links")
    bytes: int = Field(description="bytes of file data written")
    skipped: int = Field(description="entries of kinds that are not extracted")


class ExtractReply(Envelope):
    data: ExtractData


class ChangedFile(BaseModel):
    path: str
    status: Literal[
        "added", "modified", "deleted", "renamed", "copied", "type changed", "conflicted", "untracked"
    ]
    staged: bool = Field(description="the change is in the index")
    from_: str | None = Field(default=None, alias="from", description="a renamed or copied file's old path")


class GitStatus(BaseModel):
    """What the agent changed in the project's repository."""

    branch: str | None = Field(description="None: a detached HEAD")
    head: str | None = Field(description="the commit checked out (None: no commit yet)")
    upstream: str | None
    ahead: int = Field(description="commits ahead of the upstream")
    behind: int = Field(description="commits behind the upstream")
    base: str | None = Field(description="the commit the project was cloned at")
    commits_since_base: int
    files: list[ChangedFile]


class GitStatusReply(Envelope):
    data: GitStatus
