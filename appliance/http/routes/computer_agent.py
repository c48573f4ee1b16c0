"""The Computer Agent's agent API: /computer/chat, /computer/progress, /computer/agent/stop|status|session/cancel.

Each of a user's projects has its own agent process, in the user's desktop and in the project's
folder of the user's home. Events stream from /computer/progress/{session_id} as from /agent/progress,
and permission requests are answered with POST /agent/permission and the user_id.
"""

from __future__ import annotations

import uuid

from sanic import Blueprint
from sanic_ext import openapi

from appliance.http.bodies import chat_limits, parse
from appliance.http.context import GatewayRequest
from appliance.http.docs import json_body, responses
from appliance.http.envelope import data, ok
from appliance.http.routes.agent import chat_data, progress_doc, stream_session
from appliance.messages import translate
from appliance.projects import ProjectRef
from rcoder_wire.bodies import ComputerChatBody, ComputerProjectBody
from rcoder_wire.replies import (
    CancelData,
    CancelReply,
    ChatReply,
    ComputerStatusData,
    ComputerStatusReply,
    ComputerStopData,
    ComputerStopReply,
)

bp = Blueprint("computer_agent")

STOP_MESSAGES = {
    "stopped": "the project's agent was stopped; the desktop keeps running",
    "already_stopped": "the project's agent was not running",
    "not_found": "the desktop has not run this project's agent",
    "no_desktop": "the user's desktop is not running",
}


@bp.post("/computer/chat")
@openapi.definition(
    summary="Send a prompt to the agent of one of the user's projects, in the user's desktop",
    description="Starts the user's desktop on first use. The project's agent works in ~/<project_id> "
    "and can use the desktop (its display, browser and sound). Stream the turn from "
    "/computer/progress/{session_id}.",
    body=json_body(ComputerChatBody),
    response=responses(ChatReply, 400, 401, 403, 409, 429, 502, 503),
    tag="computer",
)
async def chat(request: GatewayRequest):
    body = parse(ComputerChatBody, request.json, request.app.ctx.bounds)
    ref = ProjectRef(body.project_id or uuid.uuid4().hex, body.user_id)
    started = await request.app.ctx.turns.chat(ref, body, chat_limits(body))
    return ok(data(chat_data(ref, body, started)))


@bp.get("/computer/progress/<session_id:str>", unquote=True)
@progress_doc("computer")
async def progress(request: GatewayRequest, session_id: str):
    await stream_session(request, session_id)


@bp.post("/computer/agent/stop")
@openapi.definition(
    summary="Stop the agent of one of the user's projects",
    description="Its running turn is cancelled and its process ends; the desktop stays, with its files.",
    body=json_body(ComputerProjectBody),
    response=responses(ComputerStopReply, 400, 401, 503),
    tag="computer",
)
async def stop(request: GatewayRequest):
    body = parse(ComputerProjectBody, request.json)
    result = await request.app.ctx.turns.stop_agent(ProjectRef(body.project_id, body.user_id))
    reply = ComputerStopData(
        success=True,
        user_id=body.user_id,
        project_id=body.project_id,
        result=result,
        message=translate(STOP_MESSAGES.get(result, result)),
    )
    return ok(data(reply))


@bp.post("/computer/agent/status")
@openapi.definition(
    summary="The status of the agent of one of the user's projects",
    body=json_body(ComputerProjectBody),
    response=responses(ComputerStatusReply, 400, 401, 404, 503),
    tag="computer",
)
async def status(request: GatewayRequest):
    body = parse(ComputerProjectBody, request.json)
    agent = await request.app.ctx.turns.status(ProjectRef(body.project_id, body.user_id), body.session_id)
    reply_data = ComputerStatusData(
        user_id=body.user_id,
        project_id=body.project_id,
        is_alive=agent.alive,
        session_id=agent.project.latest_session_id,
        status=agent.state,
        last_activity=agent.project.last_activity.isoformat(),
        created_at=agent.project.created_at.isoformat(),
    )
    return ok(data(reply_data))


@bp.post("/computer/agent/session/cancel")
@openapi.definition(
    summary="Cancel a running turn of one of the user's projects",
    description="Sends ACP session/cancel; the turn ends with a `cancelled` event. Without session_id, every "
    "running turn of the project is cancelled.",
    body=json_body(ComputerProjectBody),
    response=responses(CancelReply, 400, 401, 503),
    tag="computer",
)
async def cancel(request: GatewayRequest):
    body = parse(ComputerProjectBody, request.json)
    await request.app.ctx.turns.cancel(ProjectRef(body.project_id, body.user_id), body.session_id)
    return ok(data(CancelData(success=True, session_id=body.session_id or "all")))
