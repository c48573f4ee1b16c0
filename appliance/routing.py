"""Routing decisions for the proxy (nginx `auth_request`): who may pass, and to which upstream.

The proxy moves the bytes; this module only decides, from the request's path and credentials:

- `/proxy/{project_id}/{port}/{path}`: that port inside the project's container (the preview URL),
  for the API key or a token of that project;
- `/proxy/{port}/{path}`: the seed's route, to the configured backend host, for the API key only;
- `/computer/vnc|audio|ime/{user_id}/{project_id}/{path}`: the user's desktop (not in this version).

The upstream is always computed here (a container's address, or the configured backend host), never
taken from the request, and the port must be in the allowed range and not one of the appliance's own:
the gateway, the proxy, the runners, Docker's API. That is what keeps /proxy from being an SSRF hole.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from appliance.config import Config
from appliance.tokens import Tokens, project_scope

PROJECT_ROUTE = re.compile(
    r"^/proxy/(?P<project>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})/(?P<port>\d{1,5})(?P<path>/.*)?$"
)
SEED_ROUTE = re.compile(r"^/proxy/(?P<port>\d{1,5})(?P<path>/.*)?$")
DESKTOP_ROUTE = re.compile(
    r"^/computer/(?P<kind>vnc|audio|ime)/(?P<user>[^/]+)/(?P<project>[^/]+)(?P<path>/.*)?$"
)
DOCKER_PORTS = {2375, 2376}
RUNNER_PORT = 50051
TOKEN_PARAM = "rcoder_token"


@dataclass(frozen=True)
class Decision:
    """`status` 200 lets the request through to `upstream` + `path`; 401 and 403 refuse it; other
    statuses are answered by the gateway itself, with `message`."""

    status: int
    message: str = ""
    upstream: str | None = None
    path: str = "/"
    cookie: str | None = None


def refuse(status: int, message: str) -> Decision:
    return Decision(status, message)


def cookie_name(project_id: str) -> str:
    return f"rcoder_p_{project_id.replace('.', '_')}"


AddressLookup = Callable[[str], Awaitable[str | None]]


class Router:
    def __init__(self, config: Config, tokens: Tokens) -> None:
        self._config = config
        self._tokens = tokens
        self._reserved = {config.port, config.proxy_config.listen_port, RUNNER_PORT, *DOCKER_PORTS}

    def port_problem(self, port: int) -> str | None:
        low, high = self._config.proxy_config.port_range
        if port in self._reserved:
            return f"port {port} belongs to the appliance and cannot be proxied"
        if not low <= port <= high:
            return f"port {port} is outside the ports this appliance proxies ({low}-{high})"
        return None

    async def decide(
        self, original_uri: str, key_ok: bool, cookies: dict[str, str], container_ip: AddressLookup
    ) -> Decision:
        """The decision for `original_uri` (path and query as the client sent them).

        `key_ok`: the request carries the API key. `container_ip(project_id)`: the address of the
        project's running container, or None.
        """
        raw_path = urlsplit(original_uri).path
        if match := PROJECT_ROUTE.match(raw_path):
            return await self._project(match, original_uri, key_ok, cookies, container_ip)
        if match := SEED_ROUTE.match(raw_path):
            if not key_ok:
                return refuse(401, "the /proxy/{port}/ route needs the API key (x-api-key)")
            port = int(match["port"])
            if problem := self.port_problem(port):
                return refuse(403, problem)
            return Decision(
                200, upstream=f"{self._config.proxy_config.backend_host}:{port}", path=match["path"] or "/"
            )
        if DESKTOP_ROUTE.match(raw_path):
            return refuse(503, "desktops are not available in this version of the appliance")
        return refuse(404, "no such route: use /proxy/{project_id}/{port}/...")

    async def _project(
        self, match, original_uri: str, key_ok: bool, cookies: dict[str, str], container_ip
    ) -> Decision:
        project, port = match["project"], int(match["port"])
        scope = project_scope(project)
        from_query = query_token(original_uri)
        allowed = key_ok or self._tokens.allows(cookies.get(cookie_name(project)), scope)
        cookie = None
        if not allowed and self._tokens.allows(from_query, scope):
            allowed = True
            # The browser keeps the token for the preview's other requests (its scripts, styles, ...).
            cookie = f"{cookie_name(project)}={from_query}; Path=/proxy/{project}/; HttpOnly; SameSite=Lax"
        if not allowed:
            if from_query or cookies.get(cookie_name(project)):
                return refuse(403, f"the token does not open project {project!r} (or it expired)")
            return refuse(401, f"open project {project!r} with the API key or a token from POST /proxy/token")
        if problem := self.port_problem(port):
            return refuse(403, problem)
        ip = await container_ip(project)
        if ip is None:
            return refuse(404, f"project {project!r} has no running container; send it a chat first")
        return Decision(200, upstream=f"{ip}:{port}", path=match["path"] or "/", cookie=cookie)


def query_token(original_uri: str) -> str | None:
    for pair in urlsplit(original_uri).query.split("&"):
        name, _, value = pair.partition("=")
        if name == TOKEN_PARAM and value:
            return value
    return None
