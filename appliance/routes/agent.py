"""The core agent API: /chat, /agent/progress, /agent/session/cancel, /agent/stop, /agent/status."""

from __future__ import annotations

import uuid

from sanic import Blueprint, Request

from appliance.envelope import ok
from appliance.errors import ProjectNotFound
from appliance.models import SESSION_ID_PATTERN, ChatBody, ProjectBody, check_id, parse
from appliance.sse import last_event_id, stream_events

bp = Blueprint("agent")


@bp.post("/chat")
async def chat(request: Request):
    body = parse(ChatBody, request.json)
    ctx = request.app.ctx
    project_id = body.project_id or uuid.uuid4().hex
    await ctx.store.touch_project(project_id)
    async with ctx.lifecycle.using(project_id):
        agent = await ctx.lifecycle.ensure_agent(project_id, body.limits())
        # Without a session id the conversation continues in the project's latest session (as in the seed).
        session_id = body.session_id
        if session_id is None and (project := await ctx.store.project(project_id)):
            session_id = project.latest_session_id
        reply = await ctx.runners.chat(agent.address, body.to_proto(project_id, session_id or ""))
        await ctx.store.record_session(reply.session_id, project_id)
        await ctx.hub.pump(reply.session_id, project_id, agent.container.id, agent.address)
    return ok(
        {
            "project_id": project_id,
            "session_id": reply.session_id,
            "error": None,
            "request_id": body.request_id,
        }
    )


@bp.get("/agent/progress/<session_id:str>")
async def progress(request: Request, session_id: str):
    check_id(session_id, SESSION_ID_PATTERN, "session_id")
    after = last_event_id(request)
    await stream_events(request, session_id, request.app.ctx.hub.follow(session_id, after))


@bp.post("/agent/session/cancel")
async def cancel(request: Request):
    body = parse(ProjectBody, request.json)
    ctx = request.app.ctx
    agent = await ctx.lifecycle.find_agent(body.project_id)
    # No container means nothing runs: cancelling succeeds, as in the seed.
    if agent is not None:
        await ctx.runners.cancel(agent.address, body.project_id, body.session_id or "")
    return ok({"success": True, "session_id": body.session_id or "all"})


@bp.post("/agent/stop")
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
        {
            "project_id": project_id,
            "is_alive": agent is not None,
            "session_id": project.latest_session_id,
            "status": state,
            "last_activity": project.last_activity.isoformat(),
            "created_at": project.created_at.isoformat(),
        }
    )
