"""The core agent API: /chat, /agent/progress, /agent/session/cancel, /agent/stop, /agent/status."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

from sanic import Blueprint
from sanic_ext import openapi

from appliance.http.bodies import chat_limits, check_id, parse, pod_of
from appliance.http.context import GatewayRequest
from appliance.http.docs import json_body, responses
from appliance.http.envelope import data, ok
from appliance.http.sse import last_event_id, stream_events
from appliance.messages import translate
from appliance.projects import ProjectRef
from appliance.turns import Started
from rcoder_wire.bodies import SESSION_ID_PATTERN, ChatBody, PermissionBody, ProjectBody
from rcoder_wire.replies import (
    AgentInfo,
    AgentsData,
    AgentsReply,
    CancelData,
    CancelReply,
    ChatData,
    ChatReply,
    PermissionData,
    PermissionReply,
    ProgressEventData,
    StatusData,
    StatusReply,
    StopReply,
)

bp = Blueprint("agent")


@bp.post("/chat")
@openapi.definition(
    summary="Send a prompt to the project's agent",
    description="Starts the project's container on first use and returns once the turn has started. "
    "Without session_id, the project's latest session continues.",
    body=json_body(ChatBody),
    response=responses(ChatReply, 400, 401, 403, 409, 429, 502, 503),
    tag="agent",
)
async def chat(request: GatewayRequest):
    body = parse(ChatBody, request.json, request.app.ctx.bounds)
    ref = ProjectRef(body.project_id or uuid.uuid4().hex)
    pod = pod_of(body, ref.project_id)
    started = await request.app.ctx.turns.chat(ref, body, chat_limits(body), pod)
    return ok(data(chat_data(ref, body, started)))


def chat_data(ref: ProjectRef, body: ChatBody, started: Started) -> ChatData:
    """The reply to /chat and /computer/chat."""
    error = None
    if started.resumed is False:
        error = f"session {started.asked_for} could not be resumed; a new one started"
    return ChatData(
        project_id=ref.project_id,
        session_id=started.session_id,
        request_id=body.request_id,
        session_resumed=started.resumed,
        error=error,
    )


def progress_doc(tag: str):
    """The API documentation of a route streaming a session's events (/agent and /computer progress)."""
    return openapi.definition(
        summary="Stream a session's events (Server-Sent Events)",
        description="Each event has `id: <sequence>`, `event: <subType>` and `data:` as below, until the "
        "turn's terminal event (end_turn, cancelled, error, ...). Without Last-Event-ID the latest turn is sent "
        "from its start; with it, exactly the events after that id. 204 when there is nothing more to send.",
        parameter=[
            openapi.definitions.Parameter("Last-Event-ID", int, location="header", required=False),
            openapi.definitions.Parameter("last_event_id", int, location="query", required=False),
        ],
        response=[
            openapi.definitions.Response(
                {"text/event-stream": openapi.definitions.Component(ProgressEventData)}, status=200
            ),
            openapi.definitions.Response(
                status=204, description="the client has every event and the agent is idle"
            ),
            *responses(None, 400, 401, 404),
        ],
        tag=tag,
    )


async def stream_session(request: GatewayRequest, session_id: str) -> None:
    """Answer with the session's events as SSE, from the Last-Event-ID on. The id is unquoted here:
    Sanic hands /computer/progress's still quoted, unquote=True notwithstanding (a session id's
    ':' arrives as %3A), and an id holds no '%', so unquoting one that was unquoted changes nothing."""
    session_id = unquote(session_id)
    check_id(session_id, SESSION_ID_PATTERN, "session_id")
    await stream_events(request, session_id, last_event_id(request), request.app.ctx.hub)


@bp.get("/agent/progress/<session_id:str>", unquote=True)
@progress_doc("agent")
async def progress(request: GatewayRequest, session_id: str):
    await stream_session(request, session_id)


@bp.post("/agent/permission")
@openapi.definition(
    summary="Answer a permission request",
    description="Under the `ask` policy an agent's permission request arrives as a `permission_request` event "
    "with a requestId and options; answer it here with one option's optionId, or without one to cancel it. "
    "Unanswered requests are denied after permission_timeout_seconds.",
    body=json_body(PermissionBody),
    response=responses(PermissionReply, 400, 401, 404, 503),
    tag="agent",
)
async def permission(request: GatewayRequest):
    body = parse(PermissionBody, request.json)
    ref = ProjectRef(body.project_id, body.user_id)
    await request.app.ctx.turns.answer_permission(ref, body.session_id, body.request_id, body.option_id)
    return ok(data(PermissionData(request_id=body.request_id, option_id=body.option_id)))


@bp.get("/agents")
@openapi.definition(
    summary="The agents this appliance can run",
    description="Pick one with agent_config.agent_server.agent_id in POST /chat.",
    response=responses(AgentsReply, 401),
    tag="agent",
)
async def agents(request: GatewayRequest):
    config = request.app.ctx.config
    listed = [
        AgentInfo(
            id=agent_id,
            kind=definition.kind,
            description=definition.description,
            permission_policy=definition.permission_policy,
            default=agent_id == config.default_agent_id,
        )
        for agent_id, definition in sorted(config.agents.items())
    ]
    return ok(data(AgentsData(agents=listed, allow_custom_agents=config.allow_custom_agents)))


@bp.post("/agent/session/cancel")
@openapi.definition(
    summary="Cancel a running turn",
    description="Sends ACP session/cancel; the turn ends with a `cancelled` event. Without session_id, every "
    "running turn of the project is cancelled.",
    body=json_body(ProjectBody),
    response=responses(CancelReply, 400, 401, 404, 503),
    tag="agent",
)
async def cancel(request: GatewayRequest):
    body = parse(ProjectBody, request.json)
    ref = ProjectRef(body.project_id)
    request.app.ctx.turns.check_pod(ref, body.pod_id)
    # No container means nothing runs: cancelling succeeds, as in the seed.
    await request.app.ctx.turns.cancel(ref, body.session_id)
    return ok(data(CancelData(success=True, session_id=body.session_id or "all")))


STOP_MESSAGES = {
    "removed": "the agent's container was removed; its workspace is kept",
    "stopped": "the agent was stopped; its pod goes on serving the other projects",
    "none": "no agent was running",
}


@bp.post("/agent/stop")
@openapi.definition(
    summary="Stop the project's agent",
    description="Removes the project's container; its workspace volume is kept for the next chat. A "
    "project in a pod has its agent process stopped, and the pod goes on serving its other projects.",
    body=json_body(ProjectBody),
    response=responses(StopReply, 400, 401, 404, 503),
    tag="agent",
)
async def stop(request: GatewayRequest):
    body = parse(ProjectBody, request.json)
    ref = ProjectRef(body.project_id)
    request.app.ctx.turns.check_pod(ref, body.pod_id)
    outcome = await request.app.ctx.turns.stop_project(ref)
    message = translate(STOP_MESSAGES[outcome])
    return ok(
        {"success": True, "project_id": body.project_id, "session_id": body.session_id, "message": message}
    )


@bp.get("/agent/status/<project_id:str>", unquote=True)
@openapi.definition(
    summary="The project's agent status",
    response=responses(StatusReply, 400, 401, 404, 503),
    tag="agent",
)
async def status(request: GatewayRequest, project_id: str):
    check_id(project_id)
    agent = await request.app.ctx.turns.status(ProjectRef(project_id))
    project = agent.project
    return ok(
        data(
            StatusData(
                project_id=project_id,
                is_alive=agent.alive,
                session_id=project.latest_session_id,
                status=None if agent.state is None else "Active" if agent.state == "busy" else "Idle",
                last_activity=project.last_activity.isoformat(),
                created_at=project.created_at.isoformat(),
                model_provider=project.model_provider,
            )
        )
    )
