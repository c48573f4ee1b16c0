"""Turns of a project's agent, wherever it runs: in the project's container (/chat) or in its
user's desktop (/computer/chat). The routes of both APIs share these steps."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from appliance.agents import chat_request, public_provider
from appliance.errors import ProjectNotFound
from appliance.lifecycle import RunningAgent
from appliance.models import ChatBody
from appliance.projects import ProjectRef
from appliance.replies import ChatData

log = logging.getLogger(__name__)


async def start_turn(ctx: SimpleNamespace, body: ChatBody, ref: ProjectRef) -> ChatData:
    """Start the container if needed, then a turn of the project's agent, and pump its events.

    Without session_id the conversation continues in the project's latest session (as in the seed).
    """
    await ctx.store.touch_project(ref)
    workload = ctx.lifecycle.serving(ref)
    async with ctx.lifecycle.using(workload):
        running, _ = await ctx.lifecycle.ensure(workload, body.limits())
        session_id = body.session_id
        if session_id is None and (project := await ctx.store.project(ref.key)):
            session_id = project.latest_session_id
        request = chat_request(ctx.config, body, ref, session_id or "")
        reply = await ctx.runners.chat(running.address, request)
        await ctx.store.record_model_provider(ref.key, public_provider(request))
        await ctx.store.record_session(reply.session_id, ref.key)
        await ctx.hub.pump(reply.session_id, ref.key, running.container.id, running.address)
    log.info("chat queued: project %s, session %s", ref.key, reply.session_id)
    resumed = reply.session_resumed if reply.HasField("session_resumed") else None
    return ChatData(
        project_id=ref.project_id,
        session_id=reply.session_id,
        request_id=body.request_id,
        session_resumed=resumed,
        error=None
        if resumed is not False
        else f"session {session_id} could not be resumed; a new one started",
    )


async def running_for(ctx: SimpleNamespace, ref: ProjectRef) -> RunningAgent | None:
    """The running container the project's agent is in, if there is one."""
    return await ctx.lifecycle.find(ctx.lifecycle.serving(ref))


async def cancel(ctx: SimpleNamespace, ref: ProjectRef, session_id: str | None) -> None:
    """Cancel the session's turn (or every turn of the project); nothing running is not an error."""
    running = await running_for(ctx, ref)
    if running is not None:
        await ctx.runners.cancel(running.address, ref.project_id, session_id or "")


async def answer_permission(
    ctx: SimpleNamespace, ref: ProjectRef, session_id: str, request_id: str, option_id: str | None
) -> None:
    running = await running_for(ctx, ref)
    if running is None:
        raise ProjectNotFound(f"project {ref.key!r} has no running agent to answer")
    await ctx.runners.respond_permission(running.address, session_id, request_id, option_id or "")
