"""The API key the gateway checks, kept up to date: when the configuration file or the key file
changes, the key is read again (as the seed's config watcher does), with no restart. Only requests
that come after see the new key; open streams go on.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from pathlib import Path

from appliance.config import Config, ConfigError, read_api_key

log = logging.getLogger(__name__)
# How often the files are looked at (a stat each).
WATCH_SECONDS = 1.0


class ApiKey:
    def __init__(self, value: str, reload: Callable[[], Config] | None = None) -> None:
        """`value`: the key ("" turns authentication off); `reload`: the configuration as it is now
        (flags, environment and file), for follow()."""
        self.value = value
        self._reload = reload

    def matches(self, given: str | None) -> bool:
        """Whether `given` opens the API (always, with authentication off); constant-time, so that
        timing does not leak the key."""
        return not self.value or hmac.compare_digest((given or "").encode(), self.value.encode())

    async def follow(self, config_file: Path | None, key_file: Path | None) -> None:
        """Read the key again whenever one of the files changes (a task). A configuration that no
        longer loads keeps the old key, and says why."""
        if self._reload is None:
            return
        seen = _stamps(config_file, key_file)
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if (now := _stamps(config_file, key_file)) == seen:
                continue
            seen = now
            try:
                config = self._reload()
                value = read_api_key(config.api_key_auth)
            except ConfigError as exc:
                log.error(
                    "the configuration changed but does not load, so the API key stays as it was: %s", exc
                )
                continue
            key_file = Path(config.api_key_auth.api_key_file) if config.api_key_auth.api_key_file else None
            seen = _stamps(config_file, key_file)
            if value != self.value:
                log.info("the API key changed (%s)", "authentication is now off" if not value else "reloaded")
                self.value = value


def _stamps(*paths: Path | None) -> tuple:
    """What changes when a file is written, replaced or removed."""
    stamps = []
    for path in paths:
        try:
            stat = path.stat() if path is not None else None
        except OSError:
            stat = None
        stamps.append((stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat else None)
    return tuple(stamps)
