"""The projects a runner serves: one agent process per project, and that project's sessions."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.agent_process import AgentProcess
from runner.agents import AgentSpec
from runner.clone import Repository, clone
from runner.errors import AgentFailed, InvalidRequest, NotFound
from runner.permissions import CANCELLED
from runner.session import Session

log = logging.getLogger(__name__)

CANCEL_GRACE = 10.0


@dataclass
class TurnRequest:
    """What a Chat asks for, already validated and translated to ACP terms."""

    project_id: str
    session_id: str
    blocks: list[Any]
    agent: AgentSpec
    request_id: str | None = None
    mcp_servers: list[Any] = field(default_factory=list)
    session_meta: dict[str, Any] = field(default_factory=dict)
    permission_policy: str | None = None
    permission_timeout: float | None = None
    # Which configuration the agent process was started with; a change restarts it.
    agent_key: str = ""
    # The project's folder under the workspace, in a pod shared with other projects ("": the workspace).
    folder: str = ""
    # A repository to clone into the project's (new) folder before the prompt, in the same turn.
    repository: Repository | None = None


class Project:
    def __init__(self, project_id: str, workspace: Path) -> None:
        self.id = project_id
        self.workspace = workspace
        self.lock = asyncio.Lock()
        self.agent: AgentProcess | None = None
        self.agent_key = ""
        self.sessions: dict[str, Session] = {}

    @property
    def busy(self) -> bool:
        return any(session.busy for session in self.sessions.values())

    async def stop_agent(self, error: str | None = None) -> None:
        """Stop the agent; its running turns end as cancelled, or with `error` when it is not the
        user's doing (the runner shutting down)."""
        for session in self.sessions.values():
            await session.close(error)
        if self.agent is not None:
            await self.agent.close()
        self.agent = None


# How a turn ends when the runner shuts down under it (its container stopped, the engine restarting):
# a message template, worded in the language of the request that started the turn.
SHUTDOWN = "the runner shut down during the turn (its container was stopped)"


class Projects:
    def __init__(self, workspace: Path, per_project_dirs: bool = False, tracer: Any = None) -> None:
        self._workspace = workspace
        self._per_project_dirs = per_project_dirs
        self._tracer = tracer
        # An agent started before any chat asked for it (see prestart), and the key it serves.
        self._spare: tuple[str, asyncio.Task[AgentProcess]] | None = None
        self._projects: dict[str, Project] = {}
        self._sessions: dict[str, Session] = {}
        self.started = time.monotonic()

    def workspace_of(self, project_id: str, folder: str = "") -> Path:
        """Where the project's agent works: its folder in a pod, its own folder in a desktop, or the
        whole workspace of a container of its own."""
        if folder:
            return self._workspace / folder
        return self._workspace / project_id if self._per_project_dirs else self._workspace

    def _project(self, project_id: str, folder: str = "") -> Project:
        if project_id not in self._projects:
            self._projects[project_id] = Project(project_id, self.workspace_of(project_id, folder))
        return self._projects[project_id]

    async def chat(self, request: TurnRequest) -> tuple[Session, bool | None]:
        """Start a turn on the requested (or a new) session of the project's agent.

        Also says whether a requested session was resumed (None when none was requested).
        """
        project = self._project(request.project_id, request.folder)
        async with project.lock:
            agent = await self._ensure_agent(project, request)
            session = await self._ensure_session(project, agent, request)
            session.permissions.configure(request.permission_policy, request.permission_timeout)
            before = (
                functools.partial(clone, request.repository, project.workspace)
                if request.repository
                else None
            )
            await session.start_turn(request.blocks, request.request_id, before)
        resumed = session.id == request.session_id if request.session_id else None
        return session, resumed

    def prestart(self, spec: AgentSpec, key: str) -> asyncio.Task[AgentProcess] | None:
        """Start an agent now, in the shared workspace, for the first chat that needs one like it: it
        then skips the agent's start (seconds for the real adapters). Only where every project shares
        the workspace (one project per container). The start, as a task (None: nothing is started)."""
        if self._per_project_dirs or self._spare is not None:
            return None
        self._workspace.mkdir(parents=True, exist_ok=True)
        agent = AgentProcess(spec, self._workspace, self._dispatch_update, self._dispatch_permission)

        async def start() -> AgentProcess:
            await agent.start()
            return agent

        self._spare = (key, asyncio.create_task(start(), name="prestart-agent"))
        return self._spare[1]

    async def _take_spare(self, key: str) -> AgentProcess | None:
        """The prestarted agent, if it is the one wanted and it started."""
        if self._spare is None or self._spare[0] != key:
            return None
        _, starting = self._spare
        self._spare = None
        try:
            agent = await starting
        except AgentFailed as exc:
            log.warning("the prestarted agent failed (%s); starting one for the chat", exc)
            return None
        return agent if agent.alive else None

    async def _ensure_agent(self, project: Project, request: TurnRequest) -> AgentProcess:
        if project.agent is not None and project.agent.alive and project.agent_key == request.agent_key:
            return project.agent
        if project.agent is not None:
            log.info("restarting the agent of project %s (configuration changed or agent ended)", project.id)
            await project.stop_agent()
            self._forget_sessions(project)
        project.workspace.mkdir(parents=True, exist_ok=True)
        # The spare agent works in the whole workspace: never for a project with a folder of its own.
        agent = await self._take_spare(request.agent_key) if project.workspace == self._workspace else None
        if agent is None:
            agent = AgentProcess(
                request.agent, project.workspace, self._dispatch_update, self._dispatch_permission
            )
            await agent.start()
        project.agent, project.agent_key = agent, request.agent_key
        return agent

    async def _ensure_session(self, project: Project, agent: AgentProcess, request: TurnRequest) -> Session:
        wanted = request.session_id
        if wanted and wanted in project.sessions:
            return project.sessions[wanted]
        if wanted in self._sessions:
            raise InvalidRequest("session {session_id!r} belongs to another project", session_id=wanted)
        session_id = ""
        if wanted and agent.loads_sessions:
            with contextlib.suppress(Exception):
                await agent.load_session(wanted, request.mcp_servers)
                session_id = wanted
        if not session_id:
            try:
                session_id = await agent.new_session(request.mcp_servers, request.session_meta)
            except Exception as exc:
                raise AgentFailed("the agent could not open a session: {error}", error=exc) from exc
        session = Session(session_id, project.id, agent, self._tracer)
        project.sessions[session_id] = session
        self._sessions[session_id] = session
        return session

    async def _dispatch_update(self, session_id: str, update: Any) -> None:
        if session := self._sessions.get(session_id):
            await session.on_update(update)

    async def _dispatch_permission(self, session_id: str, tool_call: Any, options: list[Any]) -> Any:
        session = self._sessions.get(session_id)
        if session is None:
            return CANCELLED
        return await session.permissions.request(tool_call, options)

    def answer_permission(self, session_id: str, request_id: str, option_id: str) -> None:
        self.session(session_id).permissions.answer(request_id, option_id)

    def _forget_sessions(self, project: Project) -> None:
        for session_id in project.sessions:
            self._sessions.pop(session_id, None)
        project.sessions.clear()

    def session(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise NotFound("no session {session_id!r} in this runner", session_id=session_id) from None

    async def cancel(self, project_id: str, session_id: str, grace: float = CANCEL_GRACE) -> bool:
        """Cancel the session's turn, or every running turn of the project; False if none ran."""
        if session_id:
            return await self.session(session_id).cancel(grace)
        project = self._projects.get(project_id)
        if project is None:
            return False
        results = await asyncio.gather(*(s.cancel(grace) for s in project.sessions.values()))
        return any(results)

    def status(self, project_id: str, session_id: str) -> tuple[bool, bool]:
        """(busy, found) for a session, or for a whole project (found while its agent runs)."""
        if session_id:
            session = self._sessions.get(session_id)
            return (session.busy, True) if session else (False, False)
        project = self._projects.get(project_id)
        return (project.busy, True) if project and project.agent else (False, False)

    async def stop(self, project_id: str, force: bool) -> str:
        project = self._projects.get(project_id)
        if project is None:
            return "not_found"
        async with project.lock:  # not while a chat is starting the agent
            if project.agent is None:
                return "already_stopped"
            if not force:
                await self.cancel(project_id, "")
            await project.stop_agent()
            self._forget_sessions(project)
        return "stopped"

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    @property
    def active_turns(self) -> int:
        return sum(1 for session in self._sessions.values() if session.busy)

    async def close(self) -> None:
        if (spare := await self._take_spare(self._spare[0] if self._spare else "")) is not None:
            await spare.close()
        for project in self._projects.values():
            await project.stop_agent(SHUTDOWN)
