"""Loading the configuration: CLI flags > environment (RCODER_*) > config file > defaults.

`load_config` is the only place that reads the environment; every key and value is checked
against the schema in appliance/config.py, and an error names the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appliance.config import Config, ConfigError

log = logging.getLogger(__name__)

# Sections renamed, old name → new: the old one is still read from every source, with a warning.
RENAMED = {"docker_config": "engine_config"}

# Environment variable → config key path. The seed's names are kept.
ENVIRONMENT = {
    "RCODER_HOST": ("host",),
    "RCODER_PORT": ("port",),
    "RCODER_PROJECTS_DIR": ("projects_dir",),
    "RCODER_STATE_DIR": ("state_dir",),
    "RCODER_DEFAULT_AGENT_ID": ("default_agent_id",),
    "RCODER_LOG_LEVEL": ("log_level",),
    "OTEL_EXPORTER_OTLP_ENDPOINT": ("otlp_endpoint",),
    "RCODER_PYROSCOPE_ENDPOINT": ("pyroscope_endpoint",),
    "DOCKER_HOST": ("engine_config", "host"),
    "RCODER_STACK": ("engine_config", "stack"),
    "RCODER_AGENT_IMAGE": ("engine_config", "agent_image"),
    "RCODER_NETWORK_MODE": ("engine_config", "network_mode"),
    "RCODER_NETWORK_BASE_NAME": ("engine_config", "network_base_name"),
    "RCODER_DESKTOP_NETWORK": ("engine_config", "desktop_network"),
    "RCODER_DESKTOP_IMAGE": ("engine_config", "desktop_image"),
    "RCODER_RUNNER_BUNDLE_IMAGE": ("engine_config", "runner_bundle_image"),
    "RCODER_API_TIMEOUT_SECONDS": ("engine_config", "api_timeout_seconds"),
    "RCODER_HOST_FIREWALL": ("engine_config", "host_firewall"),
    "RCODER_HOST_OPEN_PORTS": ("engine_config", "host_open_ports"),
    "RCODER_WORKSPACE_SIZE_BYTES": ("engine_config", "workspace_size_bytes"),
    "RCODER_WORKSPACE_VOLUME_DRIVER": ("engine_config", "workspace_volume_driver"),
    "RCODER_WORKSPACES": ("engine_config", "workspaces"),
    "RCODER_BACKEND": ("engine_config", "backend"),
    "RCODER_SWARM_CONSTRAINTS": ("engine_config", "swarm_constraints"),
    "RCODER_SWARM_ATTACH": ("engine_config", "swarm_attach"),
    "RCODER_SWARM_ENCRYPTED": ("engine_config", "swarm_encrypted"),
    "RCODER_NODE_GUARD_IMAGE": ("engine_config", "node_guard_image"),
    "RCODER_REGISTRY_USERNAME": ("engine_config", "registry_username"),
    "RCODER_REGISTRY_PASSWORD": ("engine_config", "registry_password"),
    "RCODER_REGISTRY_PASSWORD_FILE": ("engine_config", "registry_password_file"),
    "RCODER_CLEANUP_ENABLED": ("cleanup_config", "enabled"),
    "RCODER_IDLE_TIMEOUT_SECONDS": ("cleanup_config", "idle_timeout_seconds"),
    "RCODER_CLEANUP_INTERVAL_SECONDS": ("cleanup_config", "cleanup_interval_seconds"),
    "RCODER_CONTAINER_PROTECTION_SECONDS": ("cleanup_config", "container_protection_seconds"),
    "RCODER_PAUSE_IDLE": ("cleanup_config", "pause_idle"),
    "RCODER_PAUSED_KEEP_SECONDS": ("cleanup_config", "paused_keep_seconds"),
    "RCODER_WARM_POOL_SIZE": ("warm_pool", "size"),
    "RCODER_MAX_CONTAINERS": ("limits", "max_containers"),
    "RCODER_CHATS_PER_MINUTE": ("limits", "chats_per_minute"),
    "RCODER_STARTS_PER_MINUTE": ("limits", "starts_per_minute"),
    "RCODER_FILES_IDLE_SECONDS": ("files", "idle_seconds"),
    "RCODER_FILES_MAX_SERVERS": ("files", "max_servers"),
    "RCODER_FILES_MAX_UPLOAD_BYTES": ("files", "max_upload_bytes"),
    "RCODER_FILES_MAX_EXTRACT_BYTES": ("files", "max_extract_bytes"),
    "RCODER_FILES_MAX_EXTRACT_ENTRIES": ("files", "max_extract_entries"),
    "RCODER_FILES_GZIP_LEVEL": ("files", "gzip_level"),
    "RCODER_GIT_PUSH_REPOSITORIES": ("git", "push_repositories"),
    "RCODER_GIT_PUSH_BRANCHES": ("git", "push_branches"),
    "RCODER_GIT_PUSH_TAGS": ("git", "push_tags"),
    "RCODER_EGRESS_POLICY": ("egress", "policy"),
    "RCODER_EGRESS_ALLOW": ("egress", "allow"),
    "RCODER_EGRESS_REFRESH_SECONDS": ("egress", "refresh_seconds"),
    "RCODER_API_KEY_ENABLED": ("api_key_auth", "enabled"),
    "RCODER_API_KEY": ("api_key_auth", "api_key"),
    "RCODER_API_KEY_FILE": ("api_key_auth", "api_key_file"),
    "RCODER_PROXY_PORT": ("proxy_config", "listen_port"),
    "RCODER_PROXY_CONTROL_PORT": ("proxy_config", "control_port"),
    "RCODER_PROXY_CONTROL_HOST": ("proxy_config", "control_host"),
    "RCODER_MODEL_PORT": ("proxy_config", "model_port"),
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

    `cli` maps dotted keys ("port", "engine_config.stack") to values given on the command line.
    """
    environ = os.environ if environ is None else environ
    sources = _sources(cli, environ, config_file)
    _warn_renamed(sources)
    merged: dict[str, Any] = {}
    for entries in sources:
        for key, value in _renamed(entries).items():
            _set(merged, key, value)
    return _build(Config, merged, prefix="")


def _sources(
    cli: Mapping[str, Any], environ: Mapping[str, str], config_file: str | None
) -> list[list[_Entry]]:
    """Each source's keys and values, in rising precedence: the file, the environment, the flags."""
    sources = []
    path = config_file or environ.get("RCODER_CONFIG")
    if path:
        sources.append(_flatten(_read_file(Path(path)), source=f"config file {path}"))
    sources.append(
        [
            (key, _Sourced(environ[name], f"environment variable {name}"))
            for name, key in ENVIRONMENT.items()
            if name in environ
        ]
    )
    sources.append(
        [
            (tuple(dotted.split(".")), _Sourced(value, f"command-line flag for {dotted}"))
            for dotted, value in cli.items()
            if value is not None
        ]
    )
    return sources


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


# A key (its path of names) and its value.
_Entry = tuple[tuple[str, ...], _Sourced]


def _flatten(data: Mapping[str, Any], source: str, prefix: tuple[str, ...] = ()) -> list[_Entry]:
    entries: list[_Entry] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            entries += _flatten(value, source, (*prefix, str(key)))
        else:
            entries.append(((*prefix, str(key)), _Sourced(value, source)))
    return entries


def _warn_renamed(sources: list[list[_Entry]]) -> None:
    """Say where an old section name is still used: once, however many of its keys are given."""
    for old, new in RENAMED.items():
        where = dict.fromkeys(value.source for entries in sources for key, value in entries if key[0] == old)
        if where:
            log.warning(
                "the section %s is now named %s: use %s (the old name, in %s, is deprecated)",
                old,
                new,
                new,
                ", ".join(where),
            )


def _renamed(entries: list[_Entry]) -> dict[tuple[str, ...], _Sourced]:
    """One source's entries under the current section names. A source may give a key under the old
    name and the new one only with the same value: which of two to take would be a guess."""
    given: dict[tuple[str, ...], tuple[tuple[str, ...], _Sourced]] = {}
    for key, value in entries:
        current = (RENAMED.get(key[0], key[0]), *key[1:])
        if current in given:
            first, seen = given[current]
            if first != key and seen.value != value.value:
                where = seen.source if seen.source == value.source else f"{seen.source} and {value.source}"
                raise ConfigError(
                    f"{'.'.join(first)} and {'.'.join(key)} are both given, with different values (from "
                    f"{where}); keep only {'.'.join(current)}"
                )
        given[current] = (key, value)
    return {current: value for current, (_, value) in given.items()}


def _set(into: dict[str, Any], key: tuple[str, ...], value: _Sourced) -> None:
    node = into
    for depth, part in enumerate(key[:-1], 1):
        node = node.setdefault(part, {})
        if isinstance(node, _Sourced):
            raise ConfigError(f"{'.'.join(key[:depth])} must be a mapping (from {node.source})")
    node[key[-1]] = value


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
    """The configuration as a plain mapping, secrets masked (for `rcoder-gateway --print-config`)."""
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
