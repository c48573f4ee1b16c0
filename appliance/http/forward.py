"""Relaying an upstream HTTP answer to the client as it comes (an agent's model reply, a workspace's
files): its status and headers, less the hop-by-hop ones, then its body chunk by chunk."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
from sanic import Request

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110 section 7.6.1), and what the proxy or the client added for the gateway.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "x-api-key",
        "authorization",
        "x-real-ip",
        "x-forwarded-for",
    }
)


def kept_headers(
    headers: httpx.Headers | dict[str, str], dropped: frozenset[str] = HOP_BY_HOP
) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in dropped}


async def relay(request: Request, upstream: httpx.Response, what: str, keep_length: bool = False) -> None:
    """Send `upstream` (opened with stream=True) to the client and close it; `what` names the upstream
    in the log when it breaks off. `keep_length`: pass Content-Length on (a file of known size)."""
    try:
        headers = kept_headers(upstream.headers)
        if keep_length and "content-length" in upstream.headers:
            headers["content-length"] = upstream.headers["content-length"]
        response = await request.respond(status=upstream.status_code, headers=headers)
        if request.method != "HEAD":
            async for chunk in upstream.aiter_raw():
                await response.send(chunk)
        await response.eof()
    except httpx.HTTPError as exc:  # the upstream broke off: so does the client's stream
        log.warning("%s broke off a streamed answer: %s", what, exc)
    finally:
        await upstream.aclose()


async def request_body(request: Request, head: bytes = b"") -> AsyncIterator[bytes]:
    """A streamed route's body as it comes, after `head` (what was read of it already)."""
    if head:
        yield head
    while (chunk := await request.stream.read()) is not None:
        yield chunk
