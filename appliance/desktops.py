"""Users' desktops (the seed's "computer"): one Linux desktop container per user, shared by their
projects, opened in a browser through the proxy with a token. Each /computer/desktop and
/computer/pod/* route (the seed's paths; no pod there, see appliance/projects.Pod) is one call here."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config import Config
from appliance.containers.lifecycle import Lifecycle
from appliance.containers.limits import Limits
from appliance.containers.running import RunningContainer
from appliance.containers.workloads import Workloads
from appliance.engines.engine import Container
from appliance.errors import NotFound
from appliance.projects import ProjectRef
from appliance.proxy.tokens import Tokens, desktop_scope
from appliance.runner_client import RunnerClient
from appliance.store import ProjectRow, Store
from rcoder_rpc import agent_pb2


@dataclass(frozen=True)
class OpenDesktop:
    """A running desktop and a token that opens it in a browser."""

    running: RunningContainer
    token: str
    expires_at: int


class Desktops:
    def __init__(
        self,
        config: Config,
        lifecycle: Lifecycle,
        workloads: Workloads,
        runners: RunnerClient,
        store: Store,
        tokens: Tokens,
    ) -> None:
        self._config = config
        self._lifecycle = lifecycle
        self._workloads = workloads
        self._runners = runners
        self._store = store
        self._tokens = tokens

    async def open(self, user_id: str, project_id: str) -> OpenDesktop:
        """Start the user's desktop if needed, count the project as active, and issue a token for it."""
        running, _ = await self._lifecycle.ensure(self._workloads.desktop(user_id))
        await self._store.projects.touch(ProjectRef(project_id, user_id))
        ttl = self._config.proxy_config.token_ttl_seconds
        token, expires = self._tokens.issue(desktop_scope(user_id), ttl)
        return OpenDesktop(running, token, expires)

    async def ensure(
        self, user_id: str, project_id: str, limits: Limits | None
    ) -> tuple[RunningContainer, bool]:
        """The user's desktop, started when it is not running; and whether it was started now."""
        await self._store.projects.touch(ProjectRef(project_id, user_id))
        return await self._lifecycle.ensure(self._workloads.desktop(user_id), limits)

    async def restart(self, user_id: str, limits: Limits | None) -> RunningContainer:
        """A new container for the user's desktop; their home (and files) stay."""
        workload = self._workloads.desktop(user_id)
        await self._lifecycle.stop(workload)
        running, _ = await self._lifecycle.ensure(workload, limits)
        return running

    async def find(self, user_id: str) -> RunningContainer | None:
        return await self._lifecycle.find(self._workloads.desktop(user_id))

    async def vnc_status(self, user_id: str) -> tuple[RunningContainer, agent_pb2.GetVncStatusResponse]:
        running = await self.find(user_id)
        if running is None:
            raise NotFound("user {user!r} has no running desktop", user=user_id)
        return running, await self._runners.vnc_status(running.address)

    async def keepalive(
        self, user_id: str, project_id: str
    ) -> tuple[ProjectRow | None, RunningContainer | None]:
        """Count the project as active now; its activity before, and the user's running desktop."""
        ref = ProjectRef(project_id, user_id)
        previous = await self._store.projects.get(ref.key)
        await self._store.projects.touch(ref)
        return previous, await self.find(user_id)

    async def containers(self) -> list[Container]:
        """Every agent, desktop and pod container of this stack, running or not, unclaimed pool
        containers aside (for /computer/pod/count and /list)."""
        return await self._lifecycle.containers()
