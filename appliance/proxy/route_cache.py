"""The gateway's line to the proxy's control port (loopback). The proxy keeps routing decisions for
2 s (images/proxy/route.lua); when a container is removed, dies or is paused, the gateway empties them
at once, so that a kept decision never sends a request to a container that is not the project's any
more (its address may already be another's). The proxy's counters are read there too."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2.0


class ProxyRoutes:
    def __init__(self, control_port: int, host: str = "127.0.0.1") -> None:
        self._address = (host, control_port)

    async def forget(self) -> bool:
        """Empty the proxy's kept decisions; False (and a warning) if the proxy did not answer."""
        try:
            return await asyncio.wait_for(self._delete(), TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as exc:
            log.warning(
                "the proxy's kept routes could not be emptied (%s): for up to 2 s a removed container's "
                "route may still be used",
                exc,
            )
            return False

    async def stats(self) -> dict[str, Any]:
        """The proxy's connection and request counters, and how many routing decisions it keeps."""
        status, body = await asyncio.wait_for(self._exchange("GET", "/_rcoder/stats"), TIMEOUT_SECONDS)
        if status != 200:
            raise OSError(f"the proxy answered {status} for its counters")
        return json.loads(body)

    async def _delete(self) -> bool:
        status, _ = await self._exchange("DELETE", "/_rcoder/routes")
        if status != 204:
            raise OSError(f"the proxy answered {status}")
        return True

    async def _exchange(self, method: str, path: str) -> tuple[int, bytes]:
        """One HTTP/1.0 request (no chunked answer) on a connection of its own: the status and the body."""
        reader, writer = await asyncio.open_connection(*self._address)
        try:
            head = f"{method} {path} HTTP/1.0\r\nHost: rcoder-proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            writer.write(head.encode())
            await writer.drain()
            answer = await reader.read()
        finally:
            writer.close()
        status_line, _, rest = answer.partition(b"\r\n")
        _, _, body = rest.partition(b"\r\n\r\n")
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise OSError(f"the proxy answered {status_line.decode(errors='replace')!r}")
        return int(parts[1]), body
