"""appliance/auth.py: who may use the internal routes, and the API key's comparison."""

from __future__ import annotations

import asyncio
import socket

from appliance.api_key import ApiKey
from appliance.http.auth import ProxyPeer, from_this_host


def an_address_of_this_host() -> str:
    """The address this host would send from to a documentation network (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))
        return probe.getsockname()[0]


def test_connections_from_this_host_are_told_apart_from_others():
    assert from_this_host("127.0.0.1") and from_this_host("::1") and from_this_host("::ffff:127.0.0.1")
    assert from_this_host(an_address_of_this_host())
    assert not from_this_host("203.0.113.9"), "an address this host does not have"
    assert not from_this_host("not an address")


def test_the_proxy_elsewhere_is_known_by_the_addresses_its_name_resolves_to():
    async def check() -> None:
        proxy = ProxyPeer("localhost")
        assert await proxy.matches("127.0.0.1")
        assert not await proxy.matches("203.0.113.9")
        assert not await ProxyPeer("no-such-host.invalid").matches("203.0.113.9")

    asyncio.run(check())


def test_the_key_must_match_exactly():
    key = ApiKey("s3cret")
    assert key.matches("s3cret")
    assert not key.matches("s3cre") and not key.matches(None)
    assert ApiKey("").matches(None), "no key: authentication is off"
