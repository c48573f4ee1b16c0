"""The proxy keeps routing decisions for 2 s (images/proxy/route.lua); when a container is removed,
dies or is paused, the gateway empties them at once, so that a kept decision never sends a request
to a container that is not the project's any more (its address may already be another's)."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

REQUEST = (
    b"DELETE /_rcoder/routes HTTP/1.1\r\nHost: rcoder-proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)
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

    async def _delete(self) -> bool:
        reader, writer = await asyncio.open_connection(*self._address)
        try:
            writer.write(REQUEST)
            await writer.drain()
            status = await reader.readline()
        finally:
            writer.close()
        if b" 204 " not in status:
            raise OSError(f"the proxy answered {status.decode(errors='replace').strip()!r}")
        return True
