"""`Project`: one project's agent on an appliance: chat, status, cancel, stop, previews, its desktop,
its files (`project.files`) and a shell in its container (`project.terminal()`).

A project with a `user` is a Computer Agent project: its agent runs in that user's desktop, and the
/computer routes serve it; the methods are the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

import rcoder_wire.bodies as bodies
from rcoder.errors import BadRequest, ConfigError
from rcoder.files import ProjectFiles
from rcoder.git import ProjectGit
from rcoder.shell import TerminalSession
from rcoder.turn import Turn
from rcoder_wire.contract import PermissionPolicy
from rcoder_wire.replies import (
    CancelData,
    ChatData,
    ComputerStatusData,
    ComputerStopData,
    DesktopData,
    PermissionData,
    StatusData,
    StopData,
    TokenData,
)

if TYPE_CHECKING:
    from rcoder.client import Appliance


@contextlib.contextmanager
def checked() -> Iterator[None]:
    """Input checked as the gateway checks it: what it would refuse is refused before it is sent."""
    try:
        yield
    except bodies.InvalidBody as exc:
        raise BadRequest(exc.message, status_code=exc.status_code, code=exc.code) from None


def body(model: type[bodies.M], **fields: Any) -> bodies.M:
    with checked():
        return bodies.parse(model, {key: value for key, value in fields.items() if value is not None})


class Project:
    def __init__(self, appliance: Appliance, project_id: str, user: str | None = None) -> None:
        with checked():
            bodies.check_id(project_id)
            if user is not None:
                bodies.check_id(user, what="user_id")
        self.appliance = appliance
        self.id = project_id
        self.user = user
        self.files = ProjectFiles(self)
        self.git = ProjectGit(self)

    def __repr__(self) -> str:
        return f"Project({self.id!r}{f', user={self.user!r}' if self.user else ''})"

    @property
    def progress_route(self) -> str:
        return "/computer/progress" if self.user else "/agent/progress"

    async def chat(
        self,
        prompt: str,
        *,
        agent: str | None = None,
        model_provider: bodies.ModelProvider | dict[str, Any] | None = None,
        permission_policy: PermissionPolicy | None = None,
        session_id: str | None = None,
        system_prompt: str | None = None,
        request_id: str | None = None,
        attachments: list[bodies.Attachment | dict[str, Any]] | None = None,
        context_servers: dict[str, bodies.ContextServer | dict[str, Any]] | None = None,
        repository: bodies.Repository | dict[str, Any] | None = None,
        template: str | None = None,
    ) -> Turn:
        """Send a prompt; iterate the returned turn for its events. Without `session_id` the project's
        latest session continues. `agent` is an agent id of GET /agents; `permission_policy` "ask" sends
        the agent's permission requests to you (`PermissionRequest.answer`). `repository` ({url, ref,
        depth, credentials}), on a project's first turn, is cloned into it before the agent starts;
        `template` (`appliance.templates.list()`), on its first turn, is the toolchain it runs on."""
        agent_config = None
        if agent or context_servers:
            agent_config = {"agent_server": {"agent_id": agent} if agent else None}
            agent_config["context_servers"] = context_servers
        fields = {
            "prompt": prompt,
            "project_id": self.id,
            "session_id": session_id,
            "system_prompt": system_prompt,
            "request_id": request_id,
            "model_provider": dump(model_provider),
            "agent_config": dump(agent_config),
            "permission_policy": permission_policy,
            "attachments": dump(attachments),
            "repository": dump(repository),
        }
        if self.user and template:
            raise ConfigError("a Computer Agent project runs in its user's desktop, which has no template")
        if self.user:
            started = await self._post(
                "/computer/chat", body(bodies.ComputerChatBody, user_id=self.user, **fields), ChatData
            )
        else:
            started = await self._post("/chat", body(bodies.ChatBody, **fields, template=template), ChatData)
        return Turn(self, started.session_id, resumed=started.session_resumed)

    def follow(self, session_id: str, after: int | None = None) -> Turn:
        """A session's events: its latest turn from the start, or the events after the id `after` to the
        end of the turn they belong to."""
        return Turn(self, session_id, last_event_id=after)

    async def status(self) -> StatusData | ComputerStatusData:
        """Whether the agent runs, its state (Active/Idle, or busy/idle in a desktop), its latest session."""
        if self.user:
            return await self._post("/computer/agent/status", self._ref(), ComputerStatusData)
        return await self.appliance.call("GET", f"/agent/status/{self.id}", reply=StatusData)

    async def cancel(self, session_id: str | None = None) -> CancelData:
        """Cancel the session's running turn (every running turn of the project without one)."""
        route = "/computer/agent/session/cancel" if self.user else "/agent/session/cancel"
        return await self._post(route, self._ref(session_id), CancelData)

    async def stop(self) -> StopData | ComputerStopData:
        """Stop the agent: remove its container (workspace kept), or end its process in the desktop."""
        if self.user:
            return await self._post("/computer/agent/stop", self._ref(), ComputerStopData)
        return await self._post("/agent/stop", self._ref(), StopData)

    async def answer(self, session_id: str, request_id: str, option_id: str | None) -> PermissionData:
        """Answer a permission request with one of its option ids (None cancels it)."""
        answer = body(
            bodies.PermissionBody,
            project_id=self.id,
            user_id=self.user,
            session_id=session_id,
            request_id=request_id,
            option_id=option_id,
        )
        return await self._post("/agent/permission", answer, PermissionData)

    async def preview(self, port: int) -> TokenData:
        """A token for the project's previews, and `preview_url` (absolute) opening `port` in a browser."""
        token = await self._post(
            "/proxy/token", body(bodies.TokenBody, project_id=self.id, port=port), TokenData
        )
        return token.model_copy(update={"preview_url": self.appliance.url_for(token.preview_url)})

    async def desktop(self, user: str | None = None) -> DesktopData:
        """Open the desktop of `user` (default: the project's) for this project."""
        owner = user or self.user
        if not owner:
            raise BadRequest(
                "a desktop belongs to a user: give one", status_code=400, code="VALIDATION_ERROR"
            )
        return await self.appliance.desktop(owner, self.id)

    def terminal(self, *, cols: int | None = None, rows: int | None = None) -> TerminalSession:
        """A shell in the project's container (started or resumed if need be), opened by `async with`:
        `send` keys, `resize`, iterate its output, read `exit_status` once it ends."""
        return TerminalSession(self, cols=cols, rows=rows)

    def _ref(self, session_id: str | None = None) -> BaseModel:
        if self.user:
            return body(
                bodies.ComputerProjectBody, project_id=self.id, user_id=self.user, session_id=session_id
            )
        return body(bodies.ProjectBody, project_id=self.id, session_id=session_id)

    async def _post(self, route: str, request: BaseModel, reply: type[bodies.M]) -> bodies.M:
        return await self.appliance.call("POST", route, body=request, reply=reply)


def dump(value: Any) -> Any:
    """Models given by the caller, as the JSON the gateway's body models read."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items() if item is not None}
    return value
