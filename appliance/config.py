"""The gateway's configuration: CLI flags > environment (RCODER_*) > config file > defaults.

`load_config` is the only place that reads the environment. Everything else receives the
frozen `Config` it returns.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


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
POLICIES = ("allow", "deny", "ask")


@dataclass(frozen=True)
class DockerConfig:
    # Engine address (unix://, tcp://, ssh://); empty: DOCKER_HOST or the local socket.
    host: str = ""
    # Groups what one appliance creates (label rcoder.stack and name prefix), so stacks can share an engine.
    stack: str = field(default="default", metadata=_NAME)
    agent_image: str = "rcoder/agent:dev"
    desktop_image: str = "rcoder/desktop:dev"
    network_mode: str = field(default="bridge", metadata=_check(lambda v: v == "bridge", "bridge"))
    # The network agent containers join; the gateway must reach it (the deployer attaches it).
    network_base_name: str = "rcoder-agents"
    # The network desktop containers join (inter-container traffic disabled, like the agents').
    desktop_network: str = "rcoder-desktops"
    work_dir: str = field(default="/app", metadata=_check(os.path.isabs, "an absolute path"))
    auto_cleanup: bool = True
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


@dataclass(frozen=True)
class CleanupConfig:
    enabled: bool = True
    idle_timeout_seconds: int = field(default=600, metadata=_POSITIVE)
    cleanup_interval_seconds: int = field(default=300, metadata=_POSITIVE)
    # A container younger than this is never removed.
    container_protection_seconds: int = field(default=300, metadata=_NOT_NEGATIVE)
    docker_stop_timeout_seconds: int = field(default=30, metadata=_NOT_NEGATIVE)


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


def _port_range(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        return None
    low, high = int(match[1]), int(match[2])
    return (low, high) if 1 <= low <= high <= 65535 else None


AGENT_KINDS = ("plain", "claude-code", "codex")


@dataclass(frozen=True)
class AgentDefinition:
    """An ACP agent the runners can start: a stdio command in the agent image."""

    command: str
    args: tuple[str, ...] = ()
    # Extra environment of the agent process; values are masked in --print-config.
    env: dict[str, str] = field(default_factory=dict, metadata=_SECRET)
    # How a request's model provider reaches it: "claude-code" (Anthropic variables),
    # "codex" (an OpenAI Responses provider in Codex's config), "plain" (not at all).
    kind: str = field(default="plain", metadata=_check(lambda v: v in AGENT_KINDS, " or ".join(AGENT_KINDS)))
    # How its permission requests are answered unless a request says otherwise.
    permission_policy: str = field(
        default="allow", metadata=_check(lambda v: v in POLICIES, "allow, deny or ask")
    )
    description: str = ""


def default_agents() -> dict[str, AgentDefinition]:
    return {
        "demo": AgentDefinition(
            command="rcoder-demo-agent",
            description="RCoder's demo agent: no model, follows simple instructions",
        ),
        "claude-code": AgentDefinition(
            command="claude-code-acp", kind="claude-code", description="Claude Code, through its ACP adapter"
        ),
        "codex": AgentDefinition(
            command="codex-acp", kind="codex", description="OpenAI Codex, through its ACP adapter"
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


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = field(default=8087, metadata=_between(1, 65535))
    # Where a project's workspace is mounted inside its agent container (relative: to docker_config.work_dir).
    projects_dir: str = "./project_workspace"
    # Where the gateway keeps its DuckDB file.
    state_dir: str = "./state"
    default_agent_id: str = "demo"
    # OTLP endpoint for traces (the gateway's and its runners'); empty: no export.
    otlp_endpoint: str = ""
    log_level: str = field(
        default="INFO",
        metadata=_check(
            lambda v: v in ("DEBUG", "INFO", "WARNING", "ERROR"), "DEBUG, INFO, WARNING or ERROR"
        ),
    )
    docker_config: DockerConfig = field(default_factory=DockerConfig)
    agents: dict[str, AgentDefinition] = field(default_factory=default_agents)
    # Whether a request may run a command of its own (agent_config.agent_server.command).
    allow_custom_agents: bool = False
    default_model_provider: ModelProviderConfig = field(default_factory=ModelProviderConfig)
    default_context_servers: dict[str, ContextServerConfig] = field(default_factory=dict)
    # Under the "ask" policy, an unanswered permission request is denied after this long.
    permission_timeout_seconds: int = field(default=300, metadata=_between(1, 86400))
    cleanup_config: CleanupConfig = field(default_factory=CleanupConfig)
    api_key_auth: ApiKeyAuthConfig = field(default_factory=ApiKeyAuthConfig)
    proxy_config: ProxyConfig = field(default_factory=ProxyConfig)

    @property
    def workspace_path(self) -> str:
        """The projects_dir as an absolute path inside agent containers."""
        return os.path.normpath(os.path.join(self.docker_config.work_dir, self.projects_dir))


# Environment variable → config key path. The seed's names are kept.
ENVIRONMENT = {
    "RCODER_HOST": ("host",),
    "RCODER_PORT": ("port",),
    "RCODER_PROJECTS_DIR": ("projects_dir",),
    "RCODER_STATE_DIR": ("state_dir",),
    "RCODER_DEFAULT_AGENT_ID": ("default_agent_id",),
    "RCODER_LOG_LEVEL": ("log_level",),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("otlp_endpoint",),
    "DOCKER_HOST": ("docker_config", "host"),
    "RCODER_STACK": ("docker_config", "stack"),
    "RCODER_AGENT_IMAGE": ("docker_config", "agent_image"),
    "RCODER_NETWORK_MODE": ("docker_config", "network_mode"),
    "RCODER_NETWORK_BASE_NAME": ("docker_config", "network_base_name"),
    "RCODER_DESKTOP_NETWORK": ("docker_config", "desktop_network"),
    "RCODER_DESKTOP_IMAGE": ("docker_config", "desktop_image"),
    "RCODER_API_TIMEOUT_SECONDS": ("docker_config", "api_timeout_seconds"),
    "RCODER_CLEANUP_ENABLED": ("cleanup_config", "enabled"),
    "RCODER_IDLE_TIMEOUT_SECONDS": ("cleanup_config", "idle_timeout_seconds"),
    "RCODER_CLEANUP_INTERVAL_SECONDS": ("cleanup_config", "cleanup_interval_seconds"),
    "RCODER_CONTAINER_PROTECTION_SECONDS": ("cleanup_config", "container_protection_seconds"),
    "RCODER_API_KEY_ENABLED": ("api_key_auth", "enabled"),
    "RCODER_API_KEY": ("api_key_auth", "api_key"),
    "RCODER_API_KEY_FILE": ("api_key_auth", "api_key_file"),
    "RCODER_PROXY_PORT": ("proxy_config", "listen_port"),
    "RCODER_PROXY_ALLOWED_PORTS": ("proxy_config", "allowed_ports"),
    "RCODER_PROXY_TOKEN_SECRET_FILE": ("proxy_config", "token_secret_file"),
    "RCODER_ALLOW_CUSTOM_AGENTS": ("allow_custom_agents",),
    "RCODER_MODEL_PROVIDER_ID": ("default_model_provider", "id"),
    "RCODER_MODEL_PROVIDER_BASE_URL": ("default_model_provider", "base_url"),
    "RCODER_MODEL_PROVIDER_API_KEY": ("default_model_provider", "api_key"),
    "RCODER_MODEL_PROVIDER_API_KEY_FILE": ("default_model_provider", "api_key_file"),
    "RCODER_MODEL_PROVIDER_MODEL": ("default_model_provider", "default_model"),
    "RCODER_MODEL_PROVIDER_PROTOCOL": ("default_model_provider", "api_protocol"),
}


def load_config(
    cli: Mapping[str, Any], environ: Mapping[str, str] | None = None, config_file: str | None = None
) -> Config:
    """Merge the sources in precedence order and check every key and value.

    `cli` maps dotted keys ("port", "docker_config.stack") to values given on the command line.
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = config_file or environ.get("RCODER_CONFIG")
    if path:
        _merge(merged, _read_file(Path(path)), source=f"config file {path}")
    for name, key in ENVIRONMENT.items():
        if name in environ:
            _set(merged, key, environ[name], source=f"environment variable {name}")
    for dotted, value in cli.items():
        if value is not None:
            _set(merged, tuple(dotted.split(".")), value, source=f"command-line flag for {dotted}")
    return _build(Config, merged, prefix="")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


# Values carry where they came from, so that an error can name the source.
@dataclass(frozen=True)
class _Sourced:
    value: Any
    source: str


def _merge(into: dict[str, Any], data: Mapping[str, Any], source: str, prefix: tuple[str, ...] = ()) -> None:
    for key, value in data.items():
        if isinstance(value, Mapping):
            _merge(into, value, source, (*prefix, str(key)))
        else:
            _set(into, (*prefix, str(key)), value, source)


def _set(into: dict[str, Any], key: tuple[str, ...], value: Any, source: str) -> None:
    node = into
    for part in key[:-1]:
        node = node.setdefault(part, {})
    node[key[-1]] = _Sourced(value, source)


def _build(cls: type, values: dict[str, Any], prefix: str, base: Any = None) -> Any:
    """Build dataclass `cls` from sourced values, over `base` (its defaults when None)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if name not in fields:
            raise ConfigError(f"unknown configuration key {key!r} (from {_first_source(value)})")
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            _require_mapping(key, value)
            kwargs[name] = _build(hint, value, prefix=f"{key}.", base=getattr(base, name, None))
        elif typing.get_origin(hint) is dict:
            _require_mapping(key, value)
            current = getattr(base, name) if base is not None else _default(fields[name])
            kwargs[name] = _build_mapping(key, typing.get_args(hint)[1], value, current)
        else:
            kwargs[name] = _coerce(key, hint, value)
            meta = fields[name].metadata
            if "check" in meta and not meta["check"](kwargs[name]):
                shown = "***" if meta.get("secret") else repr(kwargs[name])
                raise ConfigError(f"{key} must be {meta['expected']}, got {shown} (from {value.source})")
    if base is not None:
        return dataclasses.replace(base, **kwargs)
    missing = [f.name for f in fields.values() if _default(f) is dataclasses.MISSING and f.name not in kwargs]
    if missing:
        raise ConfigError(f"{prefix}{missing[0]} is required (from {_first_source(values)})")
    return cls(**kwargs)


def _build_mapping(
    key: str, item_type: Any, values: dict[str, Any], current: dict[str, Any]
) -> dict[str, Any]:
    """A mapping of names to dataclasses (merged over the defaults, entry by entry) or to strings."""
    result = dict(current)
    for name, value in values.items():
        if dataclasses.is_dataclass(item_type):
            _require_mapping(f"{key}.{name}", value)
            result[name] = _build(item_type, value, prefix=f"{key}.{name}.", base=current.get(name))
        else:
            result[name] = _coerce(f"{key}.{name}", item_type, value)
    return result


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _require_mapping(key: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a mapping (from {value.source})")


def _first_source(value: Any) -> str:
    if isinstance(value, _Sourced):
        return value.source
    return _first_source(next(iter(value.values())))


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _coerce(key: str, hint: Any, sourced: Any) -> Any:
    if isinstance(sourced, dict):
        raise ConfigError(f"{key} must be a single value, not a mapping (from {_first_source(sourced)})")
    value, source = sourced.value, sourced.source
    if isinstance(hint, types.UnionType):
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if typing.get_origin(hint) in (list, tuple):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{key} must be a list of strings, got {value!r} (from {source})")
        return tuple(value)
    try:
        if hint is bool:
            return _to_bool(value)
        if hint in (int, float) and isinstance(value, bool):
            raise ValueError
        if hint is str and not isinstance(value, str | int | float):
            raise ValueError
        return hint(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be {TYPE_NAMES[hint]}, got {value!r} (from {source})") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def describe(config: Any) -> dict[str, Any]:
    """The configuration as a plain mapping, secrets masked (for `rcoder --print-config`)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = describe(value)
        elif isinstance(value, dict):
            secret = f.metadata.get("secret")
            out[f.name] = {
                k: describe(v) if dataclasses.is_dataclass(v) else "***" if secret else v
                for k, v in value.items()
            }
        elif f.metadata.get("secret") and value:
            out[f.name] = "***"
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def read_secret(value: str, path: str, key: str) -> str:
    """A secret given inline, or else read from its file (Docker and Pulumi secrets are files)."""
    if value or not path:
        return value
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {key} {path}: {exc.strerror}") from exc


def read_api_key(auth: ApiKeyAuthConfig) -> str:
    """The API key, from the config or from its file; ConfigError when auth is on and there is none."""
    key = read_secret(auth.api_key, auth.api_key_file, "api_key_auth.api_key_file")
    if auth.enabled and not key:
        raise ConfigError(
            "api_key_auth.enabled is true but no key is set (api_key, api_key_file or RCODER_API_KEY)"
        )
    return key
