"""Server-Sent Events: the seed's event format plus `id:` lines, heartbeats, and clean cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sanic import Request, empty

from appliance.errors import ApplianceError, BadRequest
from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import PROMPT_END

# Well under Sanic's 60 s RESPONSE_TIMEOUT, which cuts a stream that stays silent that long.
HEARTBEAT_SECONDS = 15.0


def last_event_id(request: Request) -> int:
    """The sequence number a reconnecting client saw last (header, or `last_event_id` query)."""
    raw = request.headers.get("last-event-id") or request.args.get("last_event_id") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Last-Event-ID must be an event id from this stream, got {raw[:40]!r}") from None
    if value < 0:
        raise BadRequest("Last-Event-ID must not be negative")
    return value


def format_event(event: agent_pb2.ProgressEvent) -> str:
    message_type = event.message_type[:1].lower() + event.message_type[1:]
    data = {
        "sessionId": event.session_id,
        "messageType": message_type,
        "subType": event.sub_type,
        "data": json.loads(event.payload or "{}"),
        "timestamp": datetime.fromtimestamp(event.timestamp / 1000, UTC).isoformat().replace("+00:00", "Z"),
    }
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.sequence}\nevent: {event.sub_type}\ndata: {body}\n\n"


def format_error(session_id: str, error: ApplianceError) -> str:
    data = {
        "sessionId": session_id,
        "messageType": "error",
        "subType": "error",
        "data": {"code": error.code, "message": error.message},
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return f"event: error\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream_events(
    request: Request, session_id: str, events: AsyncIterator[agent_pb2.ProgressEvent]
) -> None:
    """Send `events` as SSE until the terminal event; the upstream is cancelled if the client leaves.

    The first event is awaited before the response starts, so that an unknown session still
    gets a proper status code. When there is nothing to send (the client has seen every event
    and the session is idle) the answer is 204, which also tells EventSource not to reconnect.
    """
    first = await anext(events, None)
    if first is None:
        return await request.respond(empty())
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    await response.send(format_event(first))
    event: agent_pb2.ProgressEvent | None = first
    pending: asyncio.Future | None = None
    try:
        while event is not None and event.message_type != PROMPT_END:
            pending = asyncio.ensure_future(anext(events, None))
            while not (await asyncio.wait({pending}, timeout=HEARTBEAT_SECONDS))[0]:
                await response.send(": keep-alive\n\n")
            try:
                event = pending.result()
            except ApplianceError as exc:
                await response.send(format_error(session_id, exc))
                break
            if event is not None:
                await response.send(format_event(event))
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, ApplianceError):
                await pending
        await events.aclose()
    await response.eof()
