"""Server-Sent Events: the seed's event format plus `id:` lines, heartbeats, and clean cancellation.

Many clients may follow one session: each event is formatted once, handed to every client's
connection as it arrives, and a client that stops reading is cut off (it resumes with Last-Event-ID)
instead of holding memory or anyone else up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
from datetime import UTC, datetime

from sanic import Request, empty

from appliance import metrics
from appliance.errors import ApplianceError
from appliance.events import EventHub
from appliance.http.bodies import whole_number
from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import PROMPT_END

log = logging.getLogger(__name__)

# Well under Sanic's 60 s RESPONSE_TIMEOUT, which cuts a stream that stays silent that long.
HEARTBEAT_SECONDS = 15.0
# Event ids are sequence numbers (uint64 on the wire); a larger one was never sent.
MAX_EVENT_ID = 2**63 - 1
# What the kernel may hold for one stream's client (it would otherwise grow to megabytes), and what
# may wait beyond that before the client counts as having stopped reading.
SOCKET_BUFFER_BYTES = 256 * 1024
BUFFER_LIMIT_BYTES = 1024 * 1024


def last_event_id(request: Request) -> int:
    """The sequence number a reconnecting client saw last (header, or `last_event_id` query; each
    must be an event id when it is there at all)."""
    header = event_id(request.headers.get("last-event-id"), "Last-Event-ID")
    query = event_id(request.get_args(keep_blank_values=True).get("last_event_id"), "last_event_id")
    return header if header is not None else query or 0


def event_id(raw: str | None, name: str) -> int | None:
    return None if raw is None else whole_number(raw, name, 0, MAX_EVENT_ID)


def format_event(event: agent_pb2.ProgressEvent) -> str:
    """One event in SSE, as the seed sends it, plus its sequence as `id:` (formatted once per event)."""
    return _format(
        event.session_id, event.sequence, event.message_type, event.sub_type, event.payload, event.timestamp
    )


@functools.lru_cache(maxsize=16384)
def _format(
    session_id: str, sequence: int, message_type: str, sub_type: str, payload: str, timestamp: int
) -> str:
    # The payload is the runner's JSON already: it goes in as it is, not parsed and written again.
    dumps = functools.partial(json.dumps, ensure_ascii=False)
    when = datetime.fromtimestamp(timestamp / 1000, UTC).isoformat().replace("+00:00", "Z")
    body = (
        f'{{"sessionId":{dumps(session_id)},"messageType":{dumps(message_type[:1].lower() + message_type[1:])},'
        f'"subType":{dumps(sub_type)},"data":{payload or "{}"},"timestamp":"{when}"}}'
    )
    return f"id: {sequence}\nevent: {sub_type}\ndata: {body}\n\n"


def format_error(session_id: str, error: ApplianceError) -> str:
    data = {
        "sessionId": session_id,
        "messageType": "error",
        "subType": "error",
        "data": {"code": error.code, "message": error.localized()},
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return f"event: error\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Stream:
    """One client's SSE stream, as the event hub's follower: each batch it is handed goes straight to
    the client's connection, framed as the response's chunked body, without waking a coroutine; the
    handler's own coroutine only sends heartbeats and ends the response.

    A client whose connection holds more than BUFFER_LIMIT_BYTES unsent has stopped reading: it is cut
    off, and resumes with Last-Event-ID, so that it holds neither memory nor anyone else up.
    """

    def __init__(self, request: Request, cursor: int) -> None:
        self._transport = request.transport
        self._cursor = cursor
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def deliver(self, events: list[agent_pb2.ProgressEvent]) -> bool:
        if self.ended.done():
            return False
        if not events:
            return self._end("idle")
        if self._transport.is_closing():
            return self._end("gone")
        # Usually all of it is new (and then it is the very list every stream gets: framed once).
        new = (
            events if events[0].sequence > self._cursor else [e for e in events if e.sequence > self._cursor]
        )
        if new:
            self._transport.write(chunks(new))
            self._cursor = new[-1].sequence
            if new[-1].message_type == PROMPT_END:
                return self._end("end")
        if self._transport.get_write_buffer_size() > BUFFER_LIMIT_BYTES:
            return self._end("slow")
        return True

    def _end(self, why: str) -> bool:
        if not self.ended.done():
            self.ended.set_result(why)
        return False


@functools.lru_cache(maxsize=16384)
def _chunk(
    session_id: str, sequence: int, message_type: str, sub_type: str, payload: str, timestamp: int
) -> bytes:
    data = _format(session_id, sequence, message_type, sub_type, payload, timestamp).encode()
    return b"%x\r\n%b\r\n" % (len(data), data)


# The batch last framed, and its bytes: a new event is handed to every stream in the same list.
_framed: tuple[list[agent_pb2.ProgressEvent] | None, bytes] = (None, b"")


def chunks(events: list[agent_pb2.ProgressEvent]) -> bytes:
    """The events framed for the wire, made once for all the streams the same batch is handed to."""
    global _framed
    if _framed[0] is not events:
        _framed = (events, b"".join(map(chunk, events)))
    return _framed[1]


def chunk(event: agent_pb2.ProgressEvent) -> bytes:
    """An event in SSE, framed as one chunk of a chunked HTTP/1.1 body (made once per event)."""
    return _chunk(
        event.session_id, event.sequence, event.message_type, event.sub_type, event.payload, event.timestamp
    )


async def stream_events(request: Request, session_id: str, after: int, hub: EventHub) -> None:
    """Answer with the session's events as SSE, from after `after` to the turn's end.

    The position is settled before the response starts, so that an unknown session still gets a
    proper status code; when there is nothing to send (the client has seen every event and the
    session is idle) the answer is 204, which also tells EventSource not to reconnect.
    """
    cursor = await hub.position(session_id, after)
    if cursor is None:
        return await request.respond(empty())
    if sock := request.transport.get_extra_info("socket"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES)
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    await response.send("")  # the headers
    stream = Stream(request, cursor)
    metrics.SSE_STREAMS.inc()
    try:
        await hub.follow(session_id, cursor, stream)
        while not stream.ended.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stream.ended), HEARTBEAT_SECONDS)
            if not stream.ended.done():
                # Sanic also counts this as the response being alive (its RESPONSE_TIMEOUT).
                await response.send(": keep-alive\n\n")
    except ApplianceError as exc:
        await response.send(format_error(session_id, exc))
    finally:
        hub.unfollow(session_id, stream)
        metrics.SSE_STREAMS.dec()
    if stream.ended.done() and stream.ended.result() in ("slow", "gone"):
        log.info("a client of session %s fell behind or left; its stream is closed", session_id)
        request.transport.abort()
        return
    await response.eof()
