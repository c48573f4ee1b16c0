"""The egress policy: which networks beyond this host the workloads' containers may connect to.

The policy is held by the host firewall (firewall.py, the stack's DOCKER-USER chain), outside the
containers, so nothing running in them can lift it. Under "allowlist" and "none" a container opens
connections only to the allowed networks; agents reach their model through the proxy's model port
(model_forwarding.py), or, when that is off, straight at the default model provider's host, which is
then allowed too. Host names are
resolved here, and again every `refresh_seconds`, and the firewall follows their addresses. (Name
lookups still work under "none": Docker's DNS answers from the engine, not through the firewall.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from appliance.config import Config
from appliance.engines.firewall import FirewallError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EgressPolicy:
    policy: str
    # IPv4 networks, addresses and host names.
    destinations: tuple[str, ...]

    @classmethod
    def of(cls, config: Config) -> EgressPolicy:
        allowed = config.egress.destinations if config.egress.policy == "allowlist" else ()
        forwarded = config.proxy_config.model_port != 0
        model_host = urlsplit(config.default_model_provider.base_url).hostname
        return cls(config.egress.policy, (*allowed, *([model_host] if model_host and not forwarded else [])))

    @property
    def names(self) -> tuple[str, ...]:
        """The destinations given as host names (their addresses may change)."""
        return tuple(item for item in self.destinations if _network(item) is None)

    async def networks(self) -> tuple[str, ...] | None:
        """The networks containers may connect to now, as CIDRs (None: anywhere). A name that does not
        resolve adds nothing, and is tried again at the next refresh."""
        if self.policy == "allow":
            return None
        found: set[str] = set()
        for item in self.destinations:
            network = _network(item)
            found.update([network] if network else await _addresses(item))
        return tuple(sorted(found))


def _network(item: str) -> str | None:
    try:
        return str(ipaddress.IPv4Network(item, strict=False))
    except ValueError:
        return None


async def _addresses(name: str) -> list[str]:
    try:
        answers = await asyncio.get_running_loop().getaddrinfo(name, None, family=socket.AF_INET)
    except OSError as exc:
        log.warning("egress: %s does not resolve (%s); it is not reachable until it does", name, exc)
        return []
    return [f"{answer[4][0]}/32" for answer in answers]


async def follow(
    policy: EgressPolicy,
    apply: Callable[[Sequence[str] | None], Awaitable[None]],
    every: float,
    applied: Sequence[str] | None,
) -> None:
    """Re-resolve the policy's host names every `every` seconds, and apply the networks when they differ
    from those `applied` (a task, for policies that name hosts)."""
    current = tuple(applied) if applied is not None else None
    while True:
        await asyncio.sleep(every)
        latest = await policy.networks()
        if latest == current:
            continue
        try:
            await apply(latest)
        except FirewallError as exc:
            log.error("egress: the firewall could not follow the allowed networks (%s); trying again", exc)
            continue
        log.info("egress: the allowed networks are now %s", ", ".join(latest or ()) or "none")
        current = latest
