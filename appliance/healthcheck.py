"""The gateway container's health check: its own /health, on the port it was configured with."""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('RCODER_PORT', '8087')}/health"
    try:
        with urllib.request.urlopen(url, timeout=2):
            return 0
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
