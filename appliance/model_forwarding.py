"""Agents never hold the model provider's key. Each turn's agent gets a stand-in credential and a base
URL on the proxy's model port instead; the gateway swaps the stand-in for the real key on the way out
(`/internal/model/...`, appliance/http/routes/model.py), as the seed's key-injecting proxy does.

A grant binds a stand-in (appliance/stand_ins.py) to one container (its name, id and address) and to
a copy of the provider the turn named, key included; it goes when the container does. A forward reaches only that provider's base
URL: the agent chooses the path under it, never the host.

Grants live in the gateway's memory. A stand-in for the operator's own provider says so, and carries its
project, under the HMAC: a restarted gateway takes it from the container at its address and grants it
again, so a turn that outlives the gateway keeps its model. A client's key is kept nowhere: its stand-in
opens nothing after a restart until the client's next chat.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from appliance import labels
from appliance.engines.engine import Container
from appliance.errors import Forbidden
from appliance.messages import Phrase
from appliance.stand_ins import StandIns
from rcoder_rpc import agent_pb2

STAND_IN_PREFIX = "rcoder-model-"
# Where a provider that names no base URL is, by its protocol.
DEFAULT_BASES = {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com/v1"}


@dataclass(frozen=True)
class Grant:
    """What one stand-in credential opens: the provider (with its real key) for one container's agents."""

    container: str  # its name
    container_id: str
    address: str | None  # the container's address, the only one its stand-in is taken from
    provider: agent_pb2.ModelProviderConfig
    operators: bool  # the operator's default provider, not one a client named

    @property
    def base_url(self) -> str:
        base = self.provider.api_base if self.provider.HasField("api_base") else ""
        return (base or DEFAULT_BASES.get(self.provider.api_protocol, DEFAULT_BASES["anthropic"])).rstrip("/")

    def url(self, path: str, query: str) -> str:
        """The provider's URL for the agent's `path` (and query), always under the base URL."""
        segments = path.split("/")
        if any(segment in (".", "..") for segment in segments) or "\\" in path:
            raise Forbidden("a model request's path may not leave the provider's base URL")
        return f"{self.base_url}/{path.lstrip('/')}" + (f"?{query}" if query else "")

    def credentials(self) -> dict[str, str]:
        """The real key, as the provider's protocol sends it."""
        key = self.provider.api_key
        if self.provider.api_protocol == "openai":
            return {"authorization": f"Bearer {key}"}
        return {"x-api-key": key}


class ModelForwarding:
    """The stand-ins handed out, and the grants they open."""

    def __init__(
        self,
        secret: bytes,
        port: int,
        operators_provider: Callable[[], agent_pb2.ModelProviderConfig | None] = lambda: None,
    ) -> None:
        self._stand_ins: StandIns[Grant] = StandIns(secret, STAND_IN_PREFIX, Phrase("model credential"))
        self.port = port
        # The operator's default provider, key included, as configured now (for restored grants).
        self._operators_provider = operators_provider
        # network name → the host's address on it (where its containers reach the model port).
        self.hosts: dict[str, str] = {}
        # Model replies stream for minutes; a read waits up to 10 minutes for the next bytes.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30, read=600), follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def enabled(self) -> bool:
        return self.port > 0

    def stand_in(
        self,
        network: str,
        container: Container,
        project: str,
        provider: agent_pb2.ModelProviderConfig,
        operators: bool,
    ) -> agent_pb2.ModelProviderConfig:
        """The provider as the agent is to see it: the stand-in for its key, the model port for its URL.
        A provider with no key (a local model server) is passed as it is: there is nothing to keep."""
        if not self.enabled or not provider.HasField("api_key") or not provider.api_key:
            return provider
        real = agent_pb2.ModelProviderConfig()
        real.CopyFrom(provider)
        grant = Grant(container.name, container.id, container.ip, real, operators)
        seen = agent_pb2.ModelProviderConfig()
        seen.CopyFrom(provider)
        seen.api_key = self._stand_ins.issue(container, project, operators, grant)
        seen.api_base = self.base_url(network, container)
        return seen

    def base_url(self, network: str, container: Container) -> str:
        """The model port as the container reaches it, on its network (or its overlay's host address)."""
        host = container.labels.get(labels.HOST_ADDRESS) or self.hosts[network]
        return f"http://{host}:{self.port}"

    def grant(self, credential: str | None, peer: str | None) -> Grant:
        """The grant a request's stand-in opens, asked from `peer` (the container's address)."""
        return self._stand_ins.grant(credential, peer)

    def restorable(self, credential: str | None, peer: str | None) -> bool:
        """Whether a stand-in the gateway does not hold may be one it gave out before a restart (see
        StandIns.restorable), with an operator's provider to restore."""
        provider = self._operators_provider()
        if provider is None or not provider.api_key:
            return False
        return self._stand_ins.restorable(credential, peer)

    def restore(self, credential: str, peer: str, containers: list[Container]) -> None:
        """Grant the operator's provider again for a stand-in given out before a restart, if the
        container at `peer` is the one it was made for."""
        provider = self._operators_provider()
        container = self._stand_ins.made_for(credential, peer, containers)
        if container is None or provider is None or not provider.api_key:
            return
        self._stand_ins.restore(credential, Grant(container.name, container.id, container.ip, provider, True))

    def revoke(self, container: str) -> None:
        """The container is gone: its stand-ins open nothing any more."""
        self._stand_ins.revoke(container)


def presented(headers: Mapping[str, str]) -> str | None:
    """The stand-in an agent's request carries: as `x-api-key` (Anthropic) or a bearer token (OpenAI)."""
    return headers.get("x-api-key") or bearer(headers)


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer` header (the git broker's stand-in comes so)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def check_destination(grant: Grant) -> None:
    """A client's provider may not point the gateway at this host or at link-local addresses (cloud
    metadata): the gateway runs on the host's network. The operator's own provider is trusted."""
    if not grant.operators:
        await check_host(urlsplit(grant.base_url).hostname or "", grant.base_url)


async def check_host(host: str, url: str, private: bool = True) -> None:
    """Refuse a host a client named (in `url`) that is this host or link-local: the gateway runs on the
    host's network, beside cloud metadata addresses; with `private` False, private and reserved
    networks too (the host's own bridges among them)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        addresses = {str(info[4][0]) for info in found}
    except OSError:
        return  # it does not resolve: the forward fails as unreachable
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            raise Forbidden("{url} points at this host or a link-local address", url=url)
        if not private and (ip.is_private or ip.is_reserved or ip.is_multicast):
            raise Forbidden("{url} points at a private network address", url=url)
