"""The git broker: agents never hold a git token. A container's git traffic to a credentialed host goes
to the proxy's model port (`/rcoder-git/<scheme>/<host>/<path>`, by the `insteadOf` rules of the system
git config its runner writes: ConfigureGit), carrying the container's stand-in; the gateway swaps it
for the real credential and forwards git's smart HTTP protocol only (appliance/http/routes/git.py).

Credentials are the operator's (`git_credentials`, by host) or a request's (`repository.credentials`,
kept in memory for that container only, like a client's model key). A grant names the hosts it opens,
the project's own repository (for the push policy, appliance/git_pushes.py), and is revoked with its
container; the operator's is restorable after a gateway restart, as the model key's is.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from appliance.config import Config, GitCredential, read_secret
from appliance.engines.engine import Container
from appliance.errors import Forbidden
from appliance.messages import Phrase
from appliance.model_forwarding import ModelForwarding, check_host
from appliance.stand_ins import StandIns
from rcoder_rpc import agent_pb2
from rcoder_wire.bodies import Repository

log = logging.getLogger(__name__)

STAND_IN_PREFIX = "rcoder-git-"
BROKER_PATH = "/rcoder-git/"


@dataclass(frozen=True)
class Login:
    username: str
    token: str = field(repr=False)

    def header(self) -> dict[str, str]:
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return {"authorization": f"Basic {basic}"}


@dataclass(frozen=True)
class GitGrant:
    """What one container's git stand-in opens: these hosts, each with its login."""

    container: str  # its name
    address: str | None
    project: str
    hosts: Mapping[str, Login] = field(repr=False)  # "https://github.com" → its login
    cloned: str | None  # the project's repository, "host/path" (no scheme, no .git)
    operators: bool  # the operator's logins only: restorable after a restart


def host_key(name: str) -> str:
    """ "github.com" → "https://github.com"; "http://git.local:8080/" → "http://git.local:8080"."""
    if "://" not in name:
        name = f"https://{name}"
    parts = urlsplit(name)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def repository_of(url: str) -> str:
    """A repository's name for policies: "host/path", without the scheme and a trailing .git."""
    parts = urlsplit(url)
    return f"{parts.netloc.lower()}/{parts.path.strip('/').removesuffix('.git')}"


class GitForwarding:
    """The stand-ins handed out for git, and the logins they open."""

    def __init__(
        self,
        secret: bytes,
        config: Config,
        model_forwarding: ModelForwarding,
        cloned: Callable[[str], Awaitable[str | None]],
    ) -> None:
        self._stand_ins: StandIns[GitGrant] = StandIns(secret, STAND_IN_PREFIX, Phrase("git credential"))
        self._config = config
        self._model_port = model_forwarding
        # The operator's logins by host key, read once (their token files are secrets).
        self._operators = {
            host_key(name): _login(name, credential) for name, credential in config.git_credentials.items()
        }
        # The URL of the project's repository, as the store noted it (for restored grants).
        self._cloned = cloned
        # Git moves packs for minutes; a read waits up to 10 minutes for the next bytes.
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30, read=600), follow_redirects=False)

    async def close(self) -> None:
        await self.client.aclose()

    @property
    def enabled(self) -> bool:
        """Whether there is a broker: the model port is where containers reach it."""
        return self._model_port.enabled

    async def check_repository(self, repository: Repository) -> None:
        """An http:// repository only on a host the operator configured; a login for it, or the
        repository is public (cloned straight from the container). A host the request brings a login
        for is one the gateway will connect to: not this host (checked before the chat starts anything)."""
        key = host_key(repository.url)
        if key.startswith("http://") and key not in self._operators:
            raise Forbidden(
                "repository.url {url} is plain http: only hosts the operator configured (git_credentials) "
                "may be, and https:// otherwise",
                url=repository.url,
            )
        if repository.credentials is not None and not self.enabled:
            raise Forbidden(
                "this appliance has no git broker (proxy_config.model_port is 0): it cannot keep "
                "repository.credentials out of the container"
            )
        if repository.credentials is not None:
            await self.check_destination(key)

    async def check_destination(self, key: str) -> None:
        """A host a request named (not the operator's): checked again at each forward, as its name may
        resolve elsewhere since the grant."""
        if key not in self._operators:
            await check_host(urlsplit(key).hostname or "", key, private=False)

    async def access(
        self,
        network: str,
        container: Container,
        project: str,
        repository: Repository | None,
        cloned_url: str | None,
    ) -> agent_pb2.GitAccess | None:
        """The container's git access for the project (None: no broker, or no host to route): a
        stand-in granting the operator's logins, and the request's for its repository's host."""
        if not self.enabled:
            return None
        hosts = dict(self._operators)
        operators = True
        if repository is not None and repository.credentials is not None:
            key = host_key(repository.url)
            await self.check_destination(key)
            hosts[key] = Login(repository.credentials.username, repository.credentials.token)
            operators = False
        if not hosts:
            return None
        cloned = repository_of(cloned_url) if cloned_url else None
        grant = GitGrant(container.name, container.ip, project, hosts, cloned, operators)
        stand_in = self._stand_ins.issue(container, project, operators, grant)
        base = f"{self._model_port.base_url(network, container)}{BROKER_PATH}"
        routes = [
            agent_pb2.GitRoute(prefix=f"{key}/", broker_url=f"{base}{key.replace('://', '/', 1)}/")
            for key in sorted(hosts)
        ]
        git = self._config.git
        return agent_pb2.GitAccess(
            broker_base=base,
            stand_in=stand_in,
            routes=routes,
            author_name=git.author_name,
            author_email=git.author_email,
        )

    def grant(self, credential: str | None, peer: str | None) -> GitGrant:
        return self._stand_ins.grant(credential, peer)

    def restorable(self, credential: str | None, peer: str | None) -> bool:
        return bool(self._operators) and self._stand_ins.restorable(credential, peer)

    async def restore(self, credential: str, peer: str, containers: list[Container]) -> None:
        """Grant the operator's logins again for a stand-in given out before a restart, if the container
        at `peer` is the one it was made for."""
        container = self._stand_ins.made_for(credential, peer, containers)
        project = self._stand_ins.project_of(credential)
        if container is None or project is None:
            return
        url = await self._cloned(project)
        cloned = repository_of(url) if url else None
        grant = GitGrant(container.name, container.ip, project, self._operators, cloned, True)
        self._stand_ins.restore(credential, grant)

    def revoke(self, container: str) -> None:
        self._stand_ins.revoke(container)

    def login(self, grant: GitGrant, key: str) -> Login:
        if (login := grant.hosts.get(key)) is None:
            raise Forbidden("the git broker holds no credential for {host} for this container", host=key)
        return login


def _login(name: str, credential: GitCredential) -> Login:
    token = read_secret(credential.token, credential.token_file, f"git_credentials.{name}.token_file")
    return Login(credential.username, token)
