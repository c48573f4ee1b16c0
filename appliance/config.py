"""The gateway's configuration: its keys, their types, defaults and checks (`config.yml` lists them).

appliance/config_loader.py builds the frozen `Config` from flags, environment and file; everything
else receives that.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcoder_rpc.contract import DEFAULT_AGENT_ID
from rcoder_wire.contract import (
    AGENT_KINDS,
    CLAUDE_CODE,
    CODEX,
    PERMISSION_POLICIES,
    PLAIN,
    TEMPLATE_NAME_PATTERN,
)


class ConfigError(Exception):
    """A configuration value is unknown or invalid; the message names the key and where it came from."""


def _check(predicate: Callable[[Any], bool], expected: str, secret: bool = False) -> dict[str, Any]:
    """Field metadata: a value check (with what was expected, for the error message)."""
    return {"check": predicate, "expected": expected, "secret": secret}


def _between(low: float, high: float) -> dict[str, Any]:
    return _check(lambda v: low <= v <= high, f"between {low:g} and {high:g}")


_POSITIVE = _check(lambda v: v > 0, "greater than 0")
_NOT_NEGATIVE = _check(lambda v: v >= 0, "0 or more")
_NAME = _check(
    lambda v: re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,30}", v) is not None, "a lowercase name of 1-31 characters"
)
_SECRET = {"secret": True}

# engine_config.workspaces: Docker volumes, or folders on the engine's host.
WORKSPACE_VOLUMES = "volume"
HOST_FOLDERS = "host"
# Where workspaces are mounted in agent containers by default, beneath engine_config.work_dir (always,
# when they are host folders: projects_dir is then the folder on the host).
PROJECTS_DIR = "./project_workspace"


@dataclass(frozen=True)
class EngineConfig:
    """Where workloads run (one Docker engine, or the swarm it manages) and what their containers are
    made of: images, networks, limits, workspace volumes. Its old name, docker_config, is still read
    (appliance/config_loader.py, RENAMED)."""

    # Engine address (unix://, tcp://, ssh://); empty: DOCKER_HOST or the local socket.
    host: str = ""
    # Groups what one appliance creates (label rcoder.stack and name prefix), so stacks can share an engine.
    stack: str = field(default="default", metadata=_NAME)
    agent_image: str = "rcoder/agent:dev"
    desktop_image: str = "rcoder/desktop:dev"
    # The runner bundle templates' containers mount (images/runner-bundle, docs/templates.md).
    runner_bundle_image: str = "rcoder/runner-bundle:dev"
    network_mode: str = field(default="bridge", metadata=_check(lambda v: v == "bridge", "bridge"))
    # The network agent containers join; the gateway must reach it (the deployer attaches it).
    network_base_name: str = "rcoder-agents"
    # The network desktop containers join (inter-container traffic disabled, like the agents').
    desktop_network: str = "rcoder-desktops"
    work_dir: str = field(default="/app", metadata=_check(os.path.isabs, "an absolute path"))
    auto_cleanup: bool = True
    # Install the iptables rules that keep containers away from the host and from link-local metadata
    # addresses (appliance/engines/firewall.py). Turn off only where the operator's own firewall does
    # that.
    host_firewall: bool = True
    # The host's TCP ports that containers may still connect to, comma-separated (e.g. a model server
    # running on the host); every other port of the host is closed to them.
    host_open_ports: str = field(
        default="", metadata=_check(lambda v: _ports(v) is not None, "port numbers separated by commas")
    )

    @property
    def open_ports(self) -> tuple[int, ...]:
        return _ports(self.host_open_ports) or ()

    # An idle container older than this is removed even inside the idle timeout; 0: no limit.
    container_ttl_seconds: int = field(default=3600, metadata=_NOT_NEGATIVE)
    api_timeout_seconds: int = field(default=10, metadata=_POSITIVE)
    # How long a container lookup is reused before the engine is asked again.
    cache_status_ttl_seconds: int = field(default=10, metadata=_NOT_NEGATIVE)
    # How long a new container may take until its runner reports SERVING.
    start_timeout_seconds: int = field(default=60, metadata=_POSITIVE)
    memory_limit_bytes: int = field(default=2 * 1024**3, metadata=_between(512 * 1024**2, 64 * 1024**3))
    cpu_limit: float = field(default=2.0, metadata=_between(0.5, 32))
    pids_limit: int = field(default=1024, metadata=_between(64, 65536))
    # The most a project's workspace (and a desktop's home) may hold, held by the volume plugin below
    # (each volume a file system of that size). 0: unbounded.
    workspace_size_bytes: int = field(default=10 * 1024**3, metadata=_between(0, 2**50))
    # The Docker volume plugin that makes sized volumes (images/workspace-volumes, installed by
    # scripts/build-images). Where it is missing, workspaces are Docker's local, unbounded volumes
    # and /health says why.
    workspace_volume_driver: str = "rcoder/workspace-volumes"
    # Where workspaces live: "volume", a Docker volume each (sized by the plugin above); "host", a
    # folder each beneath projects_dir on the engine's host, bind-mounted as in the seed: no quota,
    # no warm pool, and the host's processes reach the files (docs/configuration.md).
    workspaces: str = field(
        default=WORKSPACE_VOLUMES,
        metadata=_check(lambda v: v in (WORKSPACE_VOLUMES, HOST_FOLDERS), "volume or host"),
    )
    # Where workloads run: "docker", containers on this one engine; "swarm", services on the swarm
    # this engine manages (appliance/engines/swarm/, docs/scale-out.md).
    backend: str = field(
        default="docker", metadata=_check(lambda v: v in ("docker", "swarm"), "docker or swarm")
    )
    # Swarm: the placement constraints of every workload, comma-separated (e.g. node.labels.rcoder.agents==true).
    swarm_constraints: str = ""
    # Swarm: the containers (the gateway's and the proxy's) joined to each workload's overlay, from
    # where they reach it; comma-separated names.
    swarm_attach: str = ""
    # Swarm: whether the overlays encrypt their traffic between nodes (IPsec).
    swarm_encrypted: bool = True
    # Swarm: the image of the guard that holds the host firewall on every node (the gateway's image).
    node_guard_image: str = "rcoder/gateway:dev"
    # Swarm: the account the nodes pull the agent and desktop images with, when those are named with a
    # registry (<registry>/rcoder/agent:<tag>); the password inline or in a file (a Docker secret).
    registry_username: str = ""
    registry_password: str = field(default="", metadata=_SECRET)
    registry_password_file: str = ""

    @property
    def constraints(self) -> tuple[str, ...]:
        return _items(self.swarm_constraints)

    @property
    def attach(self) -> tuple[str, ...]:
        return _items(self.swarm_attach)

    @property
    def templates_problem(self) -> str | None:
        """Why this backend cannot run templates (None: it can)."""
        if self.backend == "swarm" and not self.images_registry:
            return (
                "templates on a swarm are pushed to the registry the agent image comes from: name "
                "engine_config.agent_image (RCODER_AGENT_IMAGE) with one, as <registry>/rcoder/agent:<tag>"
            )
        return None

    @property
    def images_registry(self) -> str:
        """The registry the agent image is named with ("" for none, as in `rcoder/agent:dev`), by
        Docker's rule: a first component with a '.' or a ':', or localhost. On a swarm, templates'
        sealed images are pushed there."""
        first, slash, _ = self.agent_image.partition("/")
        return first if slash and ("." in first or ":" in first or first == "localhost") else ""


@dataclass(frozen=True)
class CleanupConfig:
    enabled: bool = True
    # A container idle this long is paused (or removed, without pause_idle).
    idle_timeout_seconds: int = field(default=600, metadata=_POSITIVE)
    cleanup_interval_seconds: int = field(default=300, metadata=_POSITIVE)
    # A container younger than this is never paused or removed.
    container_protection_seconds: int = field(default=300, metadata=_NOT_NEGATIVE)
    docker_stop_timeout_seconds: int = field(default=30, metadata=_NOT_NEGATIVE)
    # Pause idle containers (frozen, memory kept, resumed in ~25 ms) before removing them.
    pause_idle: bool = True
    # How long a paused container is kept before it is removed.
    paused_keep_seconds: int = field(default=3600, metadata=_NOT_NEGATIVE)
    # When the host's memory is fuller than this (percent), paused containers are removed early.
    memory_pressure_percent: int = field(default=90, metadata=_between(1, 100))


@dataclass(frozen=True)
class WarmPoolConfig:
    """Agent containers started ahead of time, claimed by new projects (0: none)."""

    size: int = field(default=2, metadata=_between(0, 200))


@dataclass(frozen=True)
class FilesConfig:
    """The files API (appliance/files.py): a short-lived files container per workspace, serving its
    files while its agent runs, sleeps paused, or is gone."""

    # A files container nobody used for this long is removed.
    idle_seconds: int = field(default=120, metadata=_between(5, 86400))
    # Files containers at once (beyond: 429); they are not counted in limits.max_containers.
    max_servers: int = field(default=32, metadata=_between(1, 1000))
    # The most one upload through the proxy may hold (a workspace's quota bounds it too).
    max_upload_bytes: int = field(default=8 * 1024**3, metadata=_between(1024**2, 2**50))
    # What extracting one archive may write, and how many entries it may have (beyond: 413).
    max_extract_bytes: int = field(default=4 * 1024**3, metadata=_between(1024**2, 2**50))
    max_extract_entries: int = field(default=100_000, metadata=_between(1, 10_000_000))
    # zlib's level for tar.gz and zip downloads: 1 is the fastest.
    gzip_level: int = field(default=1, metadata=_between(0, 9))


@dataclass(frozen=True)
class GitCredential:
    """The operator's credential for one git host, sent by the broker (appliance/git_forwarding.py),
    never given to a container: a token inline, or in a file (a Docker or Pulumi secret)."""

    username: str = "x-access-token"
    token: str = field(default="", metadata=_SECRET)
    token_file: str = ""


@dataclass(frozen=True)
class GitConfig:
    """What agents may do with git through the broker."""

    # Where a project may push, comma-separated globs over "host/path" (e.g. "github.com/acme/*");
    # "cloned": only the repository the project was cloned from.
    push_repositories: str = "cloned"
    # Branch names a push may create or move, comma-separated globs ("rcoder/*"); "*": any.
    push_branches: str = "*"
    # Whether a push may create or move tags.
    push_tags: bool = False
    # The author of agents' commits.
    author_name: str = "RCoder agent"
    author_email: str = "agent@rcoder.invalid"

    @property
    def repositories(self) -> tuple[str, ...]:
        return _items(self.push_repositories)

    @property
    def branches(self) -> tuple[str, ...]:
        return _items(self.push_branches)


@dataclass(frozen=True)
class LimitsConfig:
    """What one client or project may ask of the appliance; beyond it, 429 with Retry-After."""

    # Agent, desktop and pod containers of this stack at once (the warm pool's aside).
    max_containers: int = field(default=100, metadata=_between(1, 10_000))
    # Prompts per minute to one project (/chat and /computer/chat).
    chats_per_minute: int = field(default=60, metadata=_between(1, 100_000))
    # New containers per minute, for the whole stack.
    starts_per_minute: int = field(default=120, metadata=_between(1, 100_000))


EGRESS_POLICIES = ("allow", "allowlist", "none")


@dataclass(frozen=True)
class EgressConfig:
    """Where the workloads' containers (agents, desktops, pods) may open connections beyond this host;
    the host firewall holds it, outside their reach (appliance/engines/egress.py)."""

    # "allow": anywhere (link-local metadata aside); "allowlist": only `allow`; "none": nowhere.
    # The default model provider's host stays reachable under each.
    policy: str = field(
        default="allow", metadata=_check(lambda v: v in EGRESS_POLICIES, " or ".join(EGRESS_POLICIES))
    )
    # IPv4 networks, addresses or host names, comma-separated; names are resolved by the gateway, and
    # again every refresh_seconds.
    allow: str = field(
        default="",
        metadata=_check(
            lambda v: all(_destination(part) for part in _items(v)), "IPv4 networks, addresses or host names"
        ),
    )
    refresh_seconds: int = field(default=60, metadata=_between(1, 86400))

    @property
    def destinations(self) -> tuple[str, ...]:
        return _items(self.allow)


@dataclass(frozen=True)
class ApiKeyAuthConfig:
    enabled: bool = False
    api_key: str = field(default="", metadata=_SECRET)
    # A file holding the key (Docker or Pulumi secrets); used when api_key is empty.
    api_key_file: str = ""


@dataclass(frozen=True)
class ProxyConfig:
    """The proxy (images/proxy) in front of the appliance, and the routes the gateway lets through it."""

    listen_port: int = field(default=8088, metadata=_between(1, 65535))
    # Where the proxy takes the gateway's word that its kept routing decisions are out of date (loopback).
    control_port: int = field(default=8089, metadata=_between(1, 65535))
    # The proxy's address as the gateway sees it: where its control port is, and the one peer besides
    # this host that may call the gateway's /internal/ routes (a name is resolved when it is used).
    # On a swarm `<the proxy's container>.<the network they share>`, the container being the proxy.
    control_host: str = "127.0.0.1"
    # Where agents reach their model provider through the appliance, which holds the real key: they
    # get a stand-in credential only (appliance/model_forwarding.py). Only the stack's containers reach
    # this port. 0: no forwarding, and agents are given the provider's key itself.
    model_port: int = field(default=8090, metadata=_between(0, 65535))
    default_backend_port: int = field(default=8086, metadata=_between(1, 65535))
    # The host of the seed's /proxy/{port}/ route (ports there need the API key).
    backend_host: str = "127.0.0.1"
    # Ports that /proxy routes may reach, as "low-high"; the appliance's own ports never are.
    allowed_ports: str = field(
        default="1024-49151", metadata=_check(lambda v: _port_range(v) is not None, "a range like 1024-49151")
    )
    # Lifetime of the tokens issued for previews and desktops.
    token_ttl_seconds: int = field(default=3600, metadata=_between(30, 7 * 86400))
    # Key that signs those tokens; empty: generated once and kept in the state directory.
    token_secret: str = field(default="", metadata=_SECRET)
    token_secret_file: str = ""

    @property
    def port_range(self) -> tuple[int, int]:
        return _port_range(self.allowed_ports) or (1024, 49151)


def _ports(text: str) -> tuple[int, ...] | None:
    """ "8000, 4000" → (8000, 4000); None when it is not a list of port numbers."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() and 1 <= int(part) <= 65535 for part in parts):
        return None
    return tuple(int(part) for part in parts)


def _items(text: str) -> tuple[str, ...]:
    """ "a, b" → ("a", "b")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _destination(text: str) -> bool:
    """An IPv4 network or address, or a host name."""
    with contextlib.suppress(ValueError):
        ipaddress.IPv4Network(text, strict=False)
        return True
    return re.fullmatch(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+", text) is not None


def _port_range(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        return None
    low, high = int(match[1]), int(match[2])
    return (low, high) if 1 <= low <= high <= 65535 else None


@dataclass(frozen=True)
class AgentDefinition:
    """An ACP agent the runners can start: a stdio command in the agent image."""

    command: str
    args: tuple[str, ...] = ()
    # Extra environment of the agent process; values are masked in --print-config.
    env: dict[str, str] = field(default_factory=dict, metadata=_SECRET)
    # How a request's model provider reaches it: "claude-code" (Anthropic variables),
    # "codex" (an OpenAI Responses provider in Codex's config), "plain" (not at all).
    kind: str = field(default=PLAIN, metadata=_check(lambda v: v in AGENT_KINDS, " or ".join(AGENT_KINDS)))
    # How its permission requests are answered unless a request says otherwise.
    permission_policy: str = field(
        default="allow",
        metadata=_check(lambda v: v in PERMISSION_POLICIES, " or ".join(PERMISSION_POLICIES)),
    )
    description: str = ""


def default_agents() -> dict[str, AgentDefinition]:
    return {
        "demo": AgentDefinition(
            command="rcoder-demo-agent",
            description="RCoder's demo agent: no model, follows simple instructions",
        ),
        "claude-code": AgentDefinition(
            command="claude-agent-acp", kind=CLAUDE_CODE, description="Claude Code, through its ACP adapter"
        ),
        "codex": AgentDefinition(
            command="codex-acp", kind=CODEX, description="OpenAI Codex, through its ACP adapter"
        ),
    }


@dataclass(frozen=True)
class ModelProviderConfig:
    """The operator's model provider, for requests that name none."""

    id: str = ""
    name: str = ""
    base_url: str = ""
    api_key: str = field(default="", metadata=_SECRET)
    # A file holding the key (Docker or Pulumi secrets); used when api_key is empty.
    api_key_file: str = ""
    default_model: str = ""
    api_protocol: str = field(
        default="anthropic", metadata=_check(lambda v: v in ("anthropic", "openai"), "anthropic or openai")
    )


@dataclass(frozen=True)
class ContextServerConfig:
    """An MCP server (stdio) given to every session whose request names none."""

    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict, metadata=_SECRET)
    enabled: bool = True


def default_context_servers() -> dict[str, ContextServerConfig]:
    """The browser tools the agent image ships (the seed's defaults): Chromium, driven headless through
    chrome-devtools-mcp, and the fetch server, which may fetch loopback and private addresses, so that
    an agent can look at the app it is building and serving in its own container."""
    return {
        "chrome-devtools": ContextServerConfig(
            command="chrome-devtools-mcp",
            args=(
                "--headless",
                "--isolated",
                "--executablePath=/usr/bin/chromium",
                "--chromeArg=--no-sandbox",
                "--usageStatistics=false",
                "--performanceCrux=false",
            ),
        ),
        "fetch": ContextServerConfig(command="mcp-server-fetch", args=("--allow-private-ips",)),
    }


@dataclass(frozen=True)
class TemplateConfig:
    """A toolchain projects may be started on (issue 31): any glibc x86-64 image, into which the runner
    bundle is brought; the appliance seals it (appliance/templates.py) before a project uses it."""

    image: str = ""
    description: str = ""
    # Its containers' memory and CPUs; 0: engine_config's.
    memory_limit_bytes: int = field(default=0, metadata=_between(0, 64 * 1024**3))
    cpu_limit: float = field(default=0, metadata=_between(0, 32))
    # Its own warm pool (0: none); the pools share limits.max_containers in proportion to their sizes.
    pool_size: int = field(default=0, metadata=_between(0, 200))


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = field(default=8087, metadata=_between(1, 65535))
    # Where a project's workspace is mounted inside its agent container (relative: to engine_config.work_dir);
    # with engine_config.workspaces "host", the absolute folder on the engine's host that holds them.
    projects_dir: str = PROJECTS_DIR
    # Where the gateway keeps its DuckDB file.
    state_dir: str = "./state"
    default_agent_id: str = DEFAULT_AGENT_ID
    # OTLP endpoint for traces (the gateway's and its runners'); empty: no export.
    otlp_endpoint: str = ""
    # A Pyroscope server the gateway sends its CPU profile to, continuously; empty: no profiling.
    pyroscope_endpoint: str = ""
    log_level: str = field(
        default="INFO",
        metadata=_check(
            lambda v: v in ("DEBUG", "INFO", "WARNING", "ERROR"), "DEBUG, INFO, WARNING or ERROR"
        ),
    )
    engine_config: EngineConfig = field(default_factory=EngineConfig)
    agents: dict[str, AgentDefinition] = field(default_factory=default_agents)
    # Whether a request may run a command of its own (agent_config.agent_server.command).
    allow_custom_agents: bool = False
    default_model_provider: ModelProviderConfig = field(default_factory=ModelProviderConfig)
    # Merged with the file's entry by entry: `enabled: false` turns a default off.
    default_context_servers: dict[str, ContextServerConfig] = field(default_factory=default_context_servers)
    # Under the "ask" policy, an unanswered permission request is denied after this long.
    permission_timeout_seconds: int = field(default=300, metadata=_between(1, 86400))
    cleanup_config: CleanupConfig = field(default_factory=CleanupConfig)
    warm_pool: WarmPoolConfig = field(default_factory=WarmPoolConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    files: FilesConfig = field(default_factory=FilesConfig)
    # The operator's git credentials, by host: "github.com" (https) or "http(s)://host[:port]". The
    # broker sends them; containers get a stand-in (docs/security.md).
    git_credentials: dict[str, GitCredential] = field(default_factory=dict)
    git: GitConfig = field(default_factory=GitConfig)
    # Toolchains projects may name on their first chat (`template`), by name (docs/templates.md).
    templates: dict[str, TemplateConfig] = field(default_factory=dict)
    egress: EgressConfig = field(default_factory=EgressConfig)
    api_key_auth: ApiKeyAuthConfig = field(default_factory=ApiKeyAuthConfig)
    proxy_config: ProxyConfig = field(default_factory=ProxyConfig)

    @property
    def address(self) -> str:
        """host:port where this host reaches the gateway (loopback when it listens on every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def __post_init__(self) -> None:
        """Templates need a name and an image; host folders need a folder on the host, and one host: a
        swarm node's folder is not the gateway's."""
        for name, template in self.templates.items():
            if not re.fullmatch(TEMPLATE_NAME_PATTERN, name):
                raise ConfigError(
                    f"templates.{name}: a template's name must be lowercase letters, digits, '.', '_' or "
                    "'-', at most 63, starting with a letter or digit"
                )
            if not template.image:
                raise ConfigError(f"templates.{name}.image is required: the image the template is made from")
        if self.templates and (problem := self.engine_config.templates_problem):
            raise ConfigError(problem)
        if self.engine_config.workspaces != HOST_FOLDERS:
            return
        if not os.path.isabs(self.projects_dir) or os.path.normpath(self.projects_dir) == "/":
            raise ConfigError(
                "engine_config.workspaces is host, so projects_dir (RCODER_PROJECTS_DIR, --projects-dir) "
                f"must be an absolute folder on the engine's host other than /, got {self.projects_dir!r}"
            )
        if self.engine_config.backend != "docker":
            raise ConfigError(
                "engine_config.workspaces host works with the docker backend only: on a swarm, a node's "
                "folders are not the gateway's host's (use volumes)"
            )

    @property
    def workspace_path(self) -> str:
        """Where a workspace is mounted inside agent containers: projects_dir beneath work_dir, or
        PROJECTS_DIR there when projects_dir is the host's folder."""
        inside = PROJECTS_DIR if self.host_workspaces else self.projects_dir
        return os.path.normpath(os.path.join(self.engine_config.work_dir, inside))

    @property
    def host_workspaces(self) -> str | None:
        """The folder on the engine's host that holds the workspaces (engine_config.workspaces host),
        or None: they are volumes."""
        return os.path.normpath(self.projects_dir) if self.engine_config.workspaces == HOST_FOLDERS else None


def read_secret(value: str, path: str, key: str) -> str:
    """A secret given inline, or else read from its file (Docker and Pulumi secrets are files)."""
    if value or not path:
        return value
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {key} {path}: {exc.strerror}") from exc


def registry_login(engine: EngineConfig) -> tuple[str, str] | None:
    """The user name and password of the images' registry, if one is configured."""
    if not engine.registry_username:
        return None
    password = read_secret(
        engine.registry_password, engine.registry_password_file, "engine_config.registry_password_file"
    )
    return engine.registry_username, password


def read_api_key(auth: ApiKeyAuthConfig) -> str:
    """The API key, from the config or from its file; ConfigError when auth is on and there is none."""
    key = read_secret(auth.api_key, auth.api_key_file, "api_key_auth.api_key_file")
    if auth.enabled and not key:
        raise ConfigError(
            "api_key_auth.enabled is true but no key is set (api_key, api_key_file or RCODER_API_KEY)"
        )
    return key
