"""The gateway container's health check: its own /health, where the configuration says it listens."""

from __future__ import annotations

import sys
import urllib.request

from appliance.config import ConfigError
from appliance.config_loader import load_config


def main() -> int:
    try:
        url = f"http://{load_config({}).address}/health"
    except ConfigError as exc:
        print(f"rcoder-healthcheck: {exc}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=2):
            return 0
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
