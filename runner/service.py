"""The AgentService servicer: validate, call the projects, map the result.

Every call's messages (its error details, its replies' words, the events of a turn it starts) are
worded in the language the gateway sends as metadata (rcoder_rpc/messages.py)."""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc

from rcoder_rpc import agent_pb2, agent_pb2_grpc, messages
from rcoder_rpc.contract import LANGUAGE_METADATA
from rcoder_wire.contract import ID
from runner import git_access, prompt
from runner.clone import Repository
from runner.errors import InvalidRequest, RunnerError
from runner.events import Event
from runner.projects import Projects, TurnRequest

VNC_READY_FILE = Path("/tmp/vnc_ready")
PROJECT_ID = re.compile(ID)
NOVNC_PORT = 6080


def to_message(session_id: str, event: Event) -> agent_pb2.ProgressEvent:
    return agent_pb2.ProgressEvent(
        message_type=event.message_type,
        sub_type=event.sub_type,
        payload=json.dumps(event.payload, separators=(",", ":")),
        request_id=event.request_id,
        timestamp=event.timestamp_ms,
        sequence=event.sequence,
        session_id=session_id,
    )


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        projects: Projects,
        default_agent_id: str,
        agent_homes: Path,
        other_tasks: Callable[[], int] = lambda: 0,
        git_config: Path = git_access.DEFAULT_PATH,
    ) -> None:
        self.projects = projects
        self.default_agent_id = default_agent_id
        self.agent_homes = agent_homes
        # Work beside the agents' turns that keeps the container busy (open terminals).
        self.other_tasks = other_tasks
        # The container's system git config (GIT_CONFIG_SYSTEM), which ConfigureGit writes.
        self.git_config = git_config

    async def Chat(self, request: agent_pb2.ChatRequest, context: grpc.aio.ServicerContext):
        async with _errors(context):
            if not PROJECT_ID.fullmatch(request.project_id):
                raise InvalidRequest("project_id must be 1-64 letters, digits, '_', '.' or '-'")
            folder = request.workspace
            if folder and not all(PROJECT_ID.fullmatch(part) for part in folder.split("/")):
                raise InvalidRequest("workspace must be a relative folder of ids separated by '/'")
            workspace = self.projects.workspace_of(request.project_id, folder)
            spec = prompt.agent_spec(request, self.default_agent_id, self.agent_homes)
            wanted = request.repository  # a clone before the prompt, in the same turn
            repository = (
                Repository(wanted.url, wanted.ref, wanted.depth) if request.HasField("repository") else None
            )
            session, resumed = await self.projects.chat(
                TurnRequest(
                    project_id=request.project_id,
                    session_id=request.session_id,
                    blocks=prompt.content_blocks(request, workspace),
                    agent=spec,
                    request_id=request.request_id if request.HasField("request_id") else None,
                    mcp_servers=prompt.mcp_servers(request),
                    session_meta=prompt.session_meta(request),
                    agent_key=prompt.agent_key(spec, request),
                    permission_policy=request.permission_policy
                    if request.HasField("permission_policy")
                    else None,
                    permission_timeout=request.permission_timeout_seconds or None,
                    folder=folder,
                    repository=repository,
                )
            )
            return agent_pb2.ChatResponse(
                project_id=request.project_id,
                session_id=session.id,
                success=True,
                request_id=request.request_id if request.HasField("request_id") else None,
                session_resumed=resumed,
            )

    async def SubscribeProgress(
        self, request: agent_pb2.ProgressRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.ProgressEvent]:
        async with _errors(context):
            session = self.projects.session(request.session_id)
        async for event in session.log.follow(request.after_sequence):
            yield to_message(session.id, event)

    async def CancelSession(self, request: agent_pb2.CancelRequest, context: grpc.aio.ServicerContext):
        async with _errors(context):
            cancelled = await self.projects.cancel(request.project_id, request.session_id)
            return agent_pb2.CancelResponse(
                success=True,
                result=agent_pb2.CANCEL_RESULT_TYPE_SUCCESS,
                message=messages.translate("the turn was cancelled" if cancelled else "no turn was running"),
            )

    async def GetStatus(self, request: agent_pb2.GetStatusRequest, context: grpc.aio.ServicerContext):
        busy, found = self.projects.status(request.project_id, request.session_id)
        return agent_pb2.GetStatusResponse(status="busy" if busy else "idle", is_found=found)

    async def StopAgent(self, request: agent_pb2.StopAgentRequest, context: grpc.aio.ServicerContext):
        async with _errors(context):
            result = await self.projects.stop(request.project_id, request.force)
            return agent_pb2.StopAgentResponse(success=True, result=result, project_id=request.project_id)

    async def GetContainerStatus(
        self, request: agent_pb2.GetContainerStatusRequest, context: grpc.aio.ServicerContext
    ):
        active = self.projects.active_turns
        sessions = [
            agent_pb2.SessionProgress(
                session_id=s.id, project_id=s.project_id, last_sequence=s.log.last_sequence, busy=s.busy
            )
            for s in self.projects.sessions()
        ]
        return agent_pb2.GetContainerStatusResponse(
            is_active=active > 0,
            active_tasks=active + self.other_tasks(),
            uptime_seconds=int(time.monotonic() - self.projects.started),
            status="Processing" if active else "Idle",
            sessions=sessions,
        )

    async def RespondPermission(self, request: agent_pb2.PermissionAnswer, context: grpc.aio.ServicerContext):
        async with _errors(context):
            self.projects.answer_permission(request.session_id, request.request_id, request.option_id)
            return agent_pb2.PermissionAnswerReply(accepted=True, message=messages.translate("answered"))

    async def ConfigureGit(self, request: agent_pb2.GitAccess, context: grpc.aio.ServicerContext):
        async with _errors(context):
            access = git_access.GitAccess(
                broker_base=request.broker_base,
                stand_in=request.stand_in,
                routes=tuple(git_access.GitRoute(r.prefix, r.broker_url) for r in request.routes),
                author_name=request.author_name,
                author_email=request.author_email,
            )
            path = await asyncio.to_thread(git_access.write_config, access, self.git_config)
            return agent_pb2.GitAccessReply(path=str(path))

    async def GetVncStatus(self, request: agent_pb2.GetVncStatusRequest, context: grpc.aio.ServicerContext):
        async with _errors(context):
            vnc_ready, novnc_ready = await asyncio.to_thread(_desktop_readiness)
            return agent_pb2.GetVncStatusResponse(
                vnc_ready=vnc_ready,
                novnc_ready=novnc_ready,
                message=messages.translate(
                    "desktop ready" if novnc_ready else "no desktop is running in this container"
                ),
                uptime_seconds=int(time.monotonic() - self.projects.started),
            )


def _desktop_readiness() -> tuple[bool, bool]:
    """(VNC ready, noVNC ready): the desktop's ready file, and noVNC answering on its port."""
    if not VNC_READY_FILE.exists():
        return False, False
    try:
        with socket.create_connection(("127.0.0.1", NOVNC_PORT), timeout=0.5):
            return True, True
    except OSError:
        return True, False


def call_language(context: grpc.aio.ServicerContext) -> str:
    """The language the call asks for in its metadata (the client's, passed on by the gateway)."""
    wanted = [value for key, value in context.invocation_metadata() or () if key == LANGUAGE_METADATA]
    return messages.language(",".join(wanted) if wanted else None)


class _errors:
    """Word the call's messages in its language, and turn a RunnerError into the RPC's status code
    and message (the only place that does)."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self.context = context
        self._language: contextvars.Token[str] | None = None

    async def __aenter__(self) -> None:
        self._language = messages.current.set(call_language(self.context))

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        try:
            if isinstance(exc, RunnerError):
                await self.context.abort(exc.code, exc.localized())
        finally:
            if self._language is not None:
                messages.current.reset(self._language)
        return False
