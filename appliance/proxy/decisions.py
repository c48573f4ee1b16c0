"""Routing decisions for the proxy (nginx `auth_request`): who may pass, and to which upstream.

The proxy moves the bytes; this module only decides, from the request's path and credentials:

- `/proxy/{project_id}/{port}/{path}`: that port inside the project's container (the preview URL),
  for the API key or a token of that project;
- `/proxy/{port}/{path}`: the seed's route, to the configured backend host, for the API key only;
- `/computer/vnc|audio|ime/{user_id}/{project_id}/{path}`: the user's desktop (noVNC, audio, IME),
  for the API key or a token of that user's desktop;
- `/agent/files/{project_id}/{path}` and `/computer/files/{user_id}/{project_id}/{path}`: the
  project's files container (appliance/files.py), for the API key or a files token of that project
  (a preview's token does not open them);
- `/agent/terminal/{project_id}` and `/computer/terminal/{user_id}/{project_id}`: a shell in the
  project's container (started or resumed for it), in the project's folder, for the API key or a
  terminal token of that project; the runner's path is the gateway's, never the client's.

The upstream is always computed here (a container's address, or the configured backend host), never
taken from the request, and the port must be in the allowed range and not one of the appliance's own:
the gateway, the proxy, the runners, Docker's API. That is what keeps /proxy from being an SSRF hole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from appliance.config import Config
from appliance.errors import ApplianceError
from appliance.projects import ProjectRef
from appliance.proxy.tokens import Tokens, desktop_scope, files_scope, project_scope, terminal_scope
from rcoder_rpc.contract import FILES_PORT, RUNNER_PORT, TERMINAL_PORT
from rcoder_wire.contract import ID, project_route

PROJECT_ROUTE = re.compile(rf"^/proxy/(?P<project>{ID})/(?P<port>\d{{1,5}})(?P<path>/.*)?$")
SEED_ROUTE = re.compile(r"^/proxy/(?P<port>\d{1,5})(?P<path>/.*)?$")
DESKTOP_ROUTE = re.compile(
    rf"^/computer/(?P<kind>vnc|audio|ime)/(?P<user>{ID})/(?P<project>[^/]+)(?P<path>/.*)?$"
)
FILES_ROUTE = re.compile(rf"^/agent/files/(?P<project>{ID})(?P<path>/.*)?$")
DESKTOP_FILES_ROUTE = re.compile(rf"^/computer/files/(?P<user>{ID})/(?P<project>{ID})(?P<path>/.*)?$")
TERMINAL_ROUTE = re.compile(rf"^/agent/terminal/(?P<project>{ID})/?$")
DESKTOP_TERMINAL_ROUTE = re.compile(rf"^/computer/terminal/(?P<user>{ID})/(?P<project>{ID})/?$")
DOCKER_PORTS = {2375, 2376}
# The desktop's services (images/desktop): noVNC, the audio stream and its page, the IME bridge.
DESKTOP_PORTS = {"vnc": 6080, "audio": 6089, "ime": 6091}
AUDIO_PAGE_PORT = 6090
TOKEN_PARAM = "rcoder_token"
# How long the proxy keeps a decision (images/proxy/route.lua's KEEP_SECONDS).
DECISION_KEEP_SECONDS = 2
# The routes the proxy decides with the gateway (the patterns above, as docs/proxy.md writes them).
ROUTES = (
    "/proxy/{project_id}/{port}/{path}",
    "/proxy/{port}/{path}",
    "/computer/vnc/{user_id}/{project_id}/{path}",
    "/computer/audio/{user_id}/{project_id}/{path}",
    "/computer/ime/{user_id}/{project_id}/{path}",
    "/agent/files/{project_id}/{path}",
    "/computer/files/{user_id}/{project_id}/{path}",
    "/agent/terminal/{project_id}",
    "/computer/terminal/{user_id}/{project_id}",
)


@dataclass(frozen=True)
class Problem:
    """A refusal's message: an English template and its fields (appliance/messages.py)."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """`status` 200 lets the request through to `upstream` + `path`; 401 and 403 refuse it; other
    statuses are answered by the gateway itself, with `problem`. `target`: the upstream's path and
    query as the gateway sets them (a terminal's), in place of the request's."""

    status: int
    problem: Problem | None = None
    upstream: str | None = None
    path: str = "/"
    cookie: str | None = None
    target: str | None = None


def refuse(status: int, template: str, **params: Any) -> Decision:
    return Decision(status, Problem(template, params))


def cookie_name(project_id: str) -> str:
    return f"rcoder_p_{project_id.replace('.', '_')}"


class Addresses(Protocol):
    """Where the running containers are (appliance/containers/lifecycle.py answers)."""

    async def agent_ip(self, project_id: str) -> str | None: ...

    async def desktop_ip(self, user_id: str) -> str | None: ...

    async def terminal_target(self, ref: ProjectRef) -> tuple[str, str]:
        """The address of the container serving the project, started or resumed for a terminal, and
        the project's folder in it ("": the whole workspace)."""
        ...


class FileServers(Protocol):
    """Where each project's files are served (appliance/files.py answers)."""

    async def address(self, ref: ProjectRef) -> str: ...


class Router:
    def __init__(self, config: Config, tokens: Tokens, addresses: Addresses, files: FileServers) -> None:
        self._config = config
        self._tokens = tokens
        self._addresses = addresses
        self._files = files
        self._reserved = {
            config.port,
            config.proxy_config.listen_port,
            RUNNER_PORT,
            FILES_PORT,
            *DOCKER_PORTS,
        }

    def port_schema(self) -> dict[str, object]:
        """The ports a preview may use, as JSON Schema (for the API document)."""
        low, high = self._config.proxy_config.port_range
        return {"type": "integer", "minimum": low, "maximum": high, "not": {"enum": sorted(self._reserved)}}

    def port_problem(self, port: int) -> Problem | None:
        low, high = self._config.proxy_config.port_range
        if port in self._reserved:
            return Problem("port {port} belongs to the appliance and cannot be proxied", {"port": port})
        if not low <= port <= high:
            return Problem(
                "port {port} is outside the ports this appliance proxies ({low}-{high})",
                {"port": port, "low": low, "high": high},
            )
        return None

    async def decide(self, original_uri: str, key_ok: bool, cookies: dict[str, str]) -> Decision:
        """The decision for `original_uri` (path and query as the client sent them); `key_ok`: the
        request carries the API key (or none is needed)."""
        raw_path = urlsplit(original_uri).path
        if match := PROJECT_ROUTE.match(raw_path):
            return await self._project(match, original_uri, key_ok, cookies)
        if match := SEED_ROUTE.match(raw_path):
            if not key_ok:
                return refuse(401, "the /proxy/{port}/ route needs the API key (x-api-key)")
            port = int(match["port"])
            if problem := self.port_problem(port):
                return Decision(403, problem)
            return Decision(
                200, upstream=f"{self._config.proxy_config.backend_host}:{port}", path=match["path"] or "/"
            )
        if match := DESKTOP_ROUTE.match(raw_path):
            return await self._desktop(match, original_uri, key_ok, cookies)
        if match := FILES_ROUTE.match(raw_path) or DESKTOP_FILES_ROUTE.match(raw_path):
            return await self._files_of(match, original_uri, key_ok, cookies)
        if match := TERMINAL_ROUTE.match(raw_path) or DESKTOP_TERMINAL_ROUTE.match(raw_path):
            return await self._terminal(match, original_uri, key_ok, cookies)
        return refuse(404, "no such route: use /proxy/{project_id}/{port}/...")

    def _admit(
        self,
        original_uri: str,
        key_ok: bool,
        cookies: dict[str, str],
        scope: str,
        cookie: str,
        path: str,
        refusals: tuple[Decision, Decision],
    ) -> Decision | str | None:
        """A refusal (`refusals`: for a token that does not open it, and for none), or the Set-Cookie
        for a token that came in the query (None: admitted as is)."""
        from_query = query_token(original_uri)
        if key_ok or self._tokens.allows(cookies.get(cookie), scope):
            return None
        if self._tokens.allows(from_query, scope):
            # The browser keeps the token for the page's other requests (its scripts, sockets, ...).
            return f"{cookie}={from_query}; Path={path}; HttpOnly; SameSite=Lax"
        return refusals[0] if from_query or cookies.get(cookie) else refusals[1]

    async def _project(self, match, original_uri: str, key_ok: bool, cookies: dict[str, str]) -> Decision:
        project, port = match["project"], int(match["port"])
        refusals = (
            refuse(403, "the token does not open project {project!r} (or it expired)", project=project),
            refuse(
                401,
                "open project {project!r} with the API key or a token the gateway issued for it",
                project=project,
            ),
        )
        cookie = self._admit(
            original_uri,
            key_ok,
            cookies,
            project_scope(project),
            cookie_name(project),
            f"/proxy/{project}/",
            refusals,
        )
        if isinstance(cookie, Decision):
            return cookie
        if problem := self.port_problem(port):
            return Decision(403, problem)
        ip = await self._addresses.agent_ip(project)
        if ip is None:
            return refuse(
                404, "project {project!r} has no running container; send it a chat first", project=project
            )
        return Decision(200, upstream=f"{ip}:{port}", path=match["path"] or "/", cookie=cookie)

    async def _desktop(self, match, original_uri: str, key_ok: bool, cookies: dict[str, str]) -> Decision:
        user, kind, path = match["user"], match["kind"], match["path"] or "/"
        refusals = (
            refuse(403, "the token does not open the desktop of user {user!r} (or it expired)", user=user),
            refuse(
                401,
                "open the desktop of user {user!r} with the API key or a token the gateway issued for it",
                user=user,
            ),
        )
        cookie = self._admit(
            original_uri,
            key_ok,
            cookies,
            desktop_scope(user),
            desktop_cookie_name(user),
            "/computer/",
            refusals,
        )
        if isinstance(cookie, Decision):
            return cookie
        ip = await self._addresses.desktop_ip(user)
        if ip is None:
            return refuse(
                404, "user {user!r} has no running desktop; open it with GET /computer/desktop/...", user=user
            )
        port = DESKTOP_PORTS[kind]
        if kind == "audio" and not (path == "/ws" or path.startswith("/ws/")):
            port = AUDIO_PAGE_PORT  # the player page; its stream is the ws path
        return Decision(200, upstream=f"{ip}:{port}", path=path, cookie=cookie)

    async def _files_of(self, match, original_uri: str, key_ok: bool, cookies: dict[str, str]) -> Decision:
        ref = ProjectRef(match["project"], match.groupdict().get("user"))
        refusals = (
            refuse(
                403,
                "the token does not open the files of project {project!r} (or it expired)",
                project=ref.key,
            ),
            refuse(
                401,
                "open the files of project {project!r} with the API key or a files token the gateway issued "
                "for it",
                project=ref.key,
            ),
        )
        prefix = project_route("files", ref.project_id, ref.user_id)
        cookie = self._admit(
            original_uri, key_ok, cookies, files_scope(ref), files_cookie_name(ref), prefix, refusals
        )
        if isinstance(cookie, Decision):
            return cookie
        try:
            address = await self._files.address(ref)
        except ApplianceError as exc:
            return refuse(exc.status_code, exc.template, **exc.params)
        return Decision(200, upstream=address, path=match["path"] or "/", cookie=cookie)

    async def _terminal(self, match, original_uri: str, key_ok: bool, cookies: dict[str, str]) -> Decision:
        ref = ProjectRef(match["project"], match.groupdict().get("user"))
        refusals = (
            refuse(
                403,
                "the token does not open a terminal of project {project!r} (or it expired)",
                project=ref.key,
            ),
            refuse(
                401,
                "open a terminal of project {project!r} with the API key or a terminal token the gateway "
                "issued for it",
                project=ref.key,
            ),
        )
        # A terminal is one request (a WebSocket): its token is not kept in a cookie.
        if not key_ok and not self._tokens.allows(query_token(original_uri), terminal_scope(ref)):
            return refusals[0] if query_token(original_uri) else refusals[1]
        try:
            ip, folder = await self._addresses.terminal_target(ref)
        except ApplianceError as exc:
            return refuse(exc.status_code, exc.template, **exc.params)
        query = urlencode({"project": ref.key, "folder": folder})
        return Decision(200, upstream=f"{ip}:{TERMINAL_PORT}", target=f"/terminal?{query}")


def files_cookie_name(ref: ProjectRef) -> str:
    return f"rcoder_f_{ref.key.replace('.', '_').replace('/', '__')}"


def desktop_cookie_name(user_id: str) -> str:
    return f"rcoder_d_{user_id.replace('.', '_')}"


def query_token(original_uri: str) -> str | None:
    for pair in urlsplit(original_uri).query.split("&"):
        name, _, value = pair.partition("=")
        if name == TOKEN_PARAM and value:
            return value
    return None
