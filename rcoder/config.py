"""Where the client finds its appliance: flags > environment > config file > defaults, read once.

    RCODER_URL            url       the appliance (its proxy), default http://127.0.0.1:8088
    RCODER_API_KEY        api_key   sent as x-api-key (RCODER_API_KEY_FILE / api_key_file: read from a file)
    RCODER_USER           user      whose desktop `rcoder desktop` opens (default: the login name)
    RCODER_PROJECT        project   the project commands use when -p is not given
    RCODER_CLIENT_CONFIG            the config file, default $XDG_CONFIG_HOME/rcoder/client.yml
                                    (~/.config/rcoder/client.yml)

The only module of the client that reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from rcoder.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8088"
ENVIRONMENT = {
    "RCODER_URL": "url",
    "RCODER_API_KEY": "api_key",
    "RCODER_API_KEY_FILE": "api_key_file",
    "RCODER_USER": "user",
    "RCODER_PROJECT": "project",
}


@dataclass(frozen=True)
class ClientConfig:
    url: str = DEFAULT_URL
    api_key: str = ""
    api_key_file: str = ""
    user: str = ""
    project: str = ""

    def project_id(self) -> str:
        """The project a command acts on (-p, RCODER_PROJECT or `project:`), which it cannot do without."""
        if not self.project:
            raise ConfigError("which project? give -p PROJECT (or set project: in the config file)")
        return self.project

    def key(self) -> str:
        """The API key, from `api_key` or else the file `api_key_file` names ("" for none)."""
        if self.api_key or not self.api_key_file:
            return self.api_key
        try:
            return Path(self.api_key_file).expanduser().read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the API key file {self.api_key_file}: {exc.strerror}") from None


def config_path(environ: Mapping[str, str]) -> Path:
    if explicit := environ.get("RCODER_CLIENT_CONFIG"):
        return Path(explicit).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rcoder" / "client.yml"


def read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the client config {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"the client config {path} must be a mapping of settings")
    known = {f.name for f in fields(ClientConfig)}
    for key in loaded:
        if key not in known:
            raise ConfigError(f"unknown setting {key!r} in {path} (known: {', '.join(sorted(known))})")
    return {key: str(value) for key, value in loaded.items() if value is not None}


def load(
    flags: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None
) -> ClientConfig:
    """The settings: each from the first of the flags, the environment, the file, the default. The key
    and the key file count as one setting: the level that gives either decides."""
    environ = os.environ if environ is None else environ
    levels = [
        {"user": environ.get("USER") or environ.get("LOGNAME") or "me"},
        read_file(config_path(environ)),
        {key: environ[name] for name, key in ENVIRONMENT.items() if environ.get(name)},
        {key: value for key, value in (flags or {}).items() if value},
    ]
    settings: dict[str, str] = {}
    for level in levels:
        if level.keys() & {"api_key", "api_key_file"}:
            settings.pop("api_key", None)
            settings.pop("api_key_file", None)
        settings |= level
    config = ClientConfig(**settings)
    if not config.url.startswith(("http://", "https://")):
        raise ConfigError(f"the appliance's URL must start with http:// or https://, not {config.url!r}")
    return config
