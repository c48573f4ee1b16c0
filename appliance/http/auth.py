"""API key authentication: the `x-api-key` header on every route but the seed's exempt ones."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import time
from pathlib import Path

from sanic import Request, Sanic

from appliance.api_key import ApiKey
from appliance.errors import NotFound, Unauthorized

# The web console's files (/console, and / which leads there) hold no secret, like the docs: the calls
# the page makes send the key.
EXEMPT_PATHS = frozenset(
    {"/", "/health", "/metrics", "/api/docs", "/console", "/proxy/status", "/proxy/stats"}
)
# /internal/ routes are the proxy's: they check credentials themselves (and nginx hides them).
INTERNAL_PREFIX = "/internal/"
NONLOCAL_BIND = Path("/proc/sys/net/ipv4/ip_nonlocal_bind")
EXEMPT_PREFIXES = ("/api/docs/", "/console/", INTERNAL_PREFIX)


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def from_this_host(peer: str) -> bool:
    """Whether a connection came from this host: its source is loopback or one of the host's own
    addresses (the kernel lets only those be bound). A container's source is its own address, and it
    cannot forge another without CAP_NET_RAW."""
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if ip.is_loopback:
        return True
    if NONLOCAL_BIND.exists() and NONLOCAL_BIND.read_text().strip() != "0":
        return False  # any address could be bound: only loopback proves anything
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
    return True


class ProxyPeer:
    """The proxy's addresses, when it is not on this host (Swarm: a container beside the gateway's): its
    name resolved again at most every RESOLVE_SECONDS, and at once when a peer matches none of them."""

    RESOLVE_SECONDS = 10.0

    def __init__(self, host: str) -> None:
        self._host = host
        self._addresses: frozenset[str] = frozenset()
        self._resolved = -math.inf

    async def matches(self, peer: str) -> bool:
        if peer in self._addresses and time.monotonic() - self._resolved < self.RESOLVE_SECONDS:
            return True
        if (
            time.monotonic() - self._resolved < 1.0
        ):  # a stranger does not make us resolve more than once a second
            return False
        self._resolved = time.monotonic()
        try:
            found = await asyncio.get_running_loop().getaddrinfo(self._host, None, type=socket.SOCK_STREAM)
        except OSError:
            found = []
        self._addresses = frozenset(str(entry[4][0]) for entry in found)
        return peer in self._addresses


def setup_auth(app: Sanic, api_key: ApiKey, proxy_host: str = "127.0.0.1") -> None:
    """Keep /internal/ for the proxy (on this host, or at `proxy_host`), and require `api_key` on every
    non-exempt request (unless the key is empty: authentication disabled; the key may change while the
    gateway runs)."""
    proxy = ProxyPeer(proxy_host)

    @app.on_request
    async def internal_for_the_proxy_only(request: Request) -> None:
        if not request.path.startswith(INTERNAL_PREFIX) or from_this_host(request.ip):
            return
        if not await proxy.matches(request.ip):
            raise NotFound("no route {path}", path=request.path)

    @app.on_request
    async def require_api_key(request: Request) -> None:
        if not is_exempt(request.path) and not api_key.matches(request.headers.get("x-api-key")):
            raise Unauthorized("missing or wrong API key: send it in the x-api-key header")
