"""The core agent API: /chat, /agent/progress, /agent/session/cancel, /agent/stop, /agent/status."""

from __future__ import annotations

import uuid

from sanic import Blueprint, Request
from sanic_ext import openapi

from appliance import turns
from appliance.docs import json_body, responses
from appliance.envelope import ok
from appliance.errors import ProjectNotFound
from appliance.models import SESSION_ID_PATTERN, ChatBody, PermissionBody, ProjectBody, check_id, parse
from appliance.projects import ProjectRef
from appliance.replies import (
    AgentInfo,
    AgentsData,
    AgentsReply,
    CancelData,
    CancelReply,
    ChatReply,
    PermissionData,
    PermissionReply,
    ProgressEventData,
    StatusData,
    StatusReply,
    StopReply,
    data,
)
from appliance.sse import last_event_id, stream_events

bp = Blueprint("agent")


@bp.post("/chat")
@openapi.definition(
    summary="Send a prompt to the project's agent",
    description="Starts the project's container on first use and returns once the turn has started. "
    "Without session_id, the project's latest session continues.",
    body=json_body(ChatBody),
    response=responses(ChatReply, 400, 401, 409, 502, 503),
    tag="agent",
)
async def chat(request: Request):
    body = parse(ChatBody, request.json)
    ref = ProjectRef(body.project_id or uuid.uuid4().hex)
    return ok(data(await turns.start_turn(request.app.ctx, body, ref)))


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


async def stream_session(request: Request, session_id: str) -> None:
    """Answer with the session's events as SSE, from the Last-Event-ID on."""
    check_id(session_id, SESSION_ID_PATTERN, "session_id")
    after = last_event_id(request)
    await stream_events(request, session_id, request.app.ctx.hub.follow(session_id, after))


@bp.get("/agent/progress/<session_id:str>")
@progress_doc("agent")
async def progress(request: Request, session_id: str):
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
async def permission(request: Request):
    body = parse(PermissionBody, request.json)
    ref = ProjectRef(body.project_id, body.user_id)
    await turns.answer_permission(request.app.ctx, ref, body.session_id, body.request_id, body.option_id)
    return ok(data(PermissionData(request_id=body.request_id, option_id=body.option_id)))


@bp.get("/agents")
@openapi.definition(
    summary="The agents this appliance can run",
    description="Pick one with agent_config.agent_server.agent_id in POST /chat.",
    response=responses(AgentsReply, 401),
    tag="agent",
)
async def agents(request: Request):
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
    response=responses(CancelReply, 400, 401, 503),
    tag="agent",
)
async def cancel(request: Request):
    body = parse(ProjectBody, request.json)
    # No container means nothing runs: cancelling succeeds, as in the seed.
    await turns.cancel(request.app.ctx, ProjectRef(body.project_id), body.session_id)
    return ok(data(CancelData(success=True, session_id=body.session_id or "all")))


@bp.post("/agent/stop")
@openapi.definition(
    summary="Stop the project's agent",
    description="Removes the project's container; its workspace volume is kept for the next chat.",
    body=json_body(ProjectBody),
    response=responses(StopReply, 400, 401, 503),
    tag="agent",
)
async def stop(request: Request):
    body = parse(ProjectBody, request.json)
    removed = await request.app.ctx.lifecycle.stop_agent(body.project_id)
    message = (
        "the agent's container was removed; its workspace is kept" if removed else "no agent was running"
    )
    return ok(
        {"success": True, "project_id": body.project_id, "session_id": body.session_id, "message": message}
    )


@bp.get("/agent/status/<project_id:str>")
@openapi.definition(
    summary="The project's agent status",
    response=responses(StatusReply, 400, 401, 404, 503),
    tag="agent",
)
async def status(request: Request, project_id: str):
    check_id(project_id)
    ctx = request.app.ctx
    project = await ctx.store.project(project_id)
    if project is None:
        raise ProjectNotFound(f"no project {project_id!r}; a project exists once it received a chat")
    agent = await ctx.lifecycle.find_agent(project_id)
    state = None
    if agent is not None:
        reply = await ctx.runners.status(agent.address, project_id)
        state = "Active" if reply.status == "busy" else "Idle"
    return ok(
        data(
            StatusData(
                project_id=project_id,
                is_alive=agent is not None,
                session_id=project.latest_session_id,
                status=state,
                last_activity=project.last_activity.isoformat(),
                created_at=project.created_at.isoformat(),
                model_provider=project.model_provider,
            )
        )
    )
