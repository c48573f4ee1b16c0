"""Every session's events, owned by the gateway: pumped from the runner, numbered, logged, followed.

The gateway subscribes to a session's runner stream while a turn runs (the "pump"), stores
each event in the DuckDB event log, and serves SSE clients from that log: recent events from
memory, older ones from the store. Clients are therefore independent of the runner: a turn's
events can be replayed after a gateway restart or after its container is gone.

Numbering: an event's gateway sequence is the runner's sequence plus the session's
`runner_base`, fixed for each runner incarnation. Reading the same runner events twice (after
an unclean restart) gives the same numbers, so nothing is delivered or stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from appliance.errors import ApplianceError, RunnerUnavailable, SessionNotFound
from appliance.runner_client import RunnerClient
from appliance.store import SessionState, Store
from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import PROMPT_END, PROMPT_START

log = logging.getLogger(__name__)

RECENT_EVENTS = 4096
FLUSH_SECONDS = 0.05
PAGE = 1000


@dataclass
class Feed:
    """One session: its state (as stored) and its recent events; followers wait on `changed`."""

    state: SessionState
    recent: deque[agent_pb2.ProgressEvent] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    pump: asyncio.Task[None] | None = None

    async def add(self, event: agent_pb2.ProgressEvent) -> None:
        state = self.state
        state.last_sequence = event.sequence
        if event.message_type == PROMPT_START:
            state.turn_start = event.sequence
        state.in_turn = event.message_type != PROMPT_END
        self.recent.append(event)
        async with self.changed:
            self.changed.notify_all()

    async def wait_past(self, sequence: int) -> None:
        """Until an event after `sequence` is here, or the session is idle."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.state.last_sequence > sequence or not self.state.in_turn)


class EventHub:
    def __init__(self, store: Store, runners: RunnerClient) -> None:
        self._store = store
        self._runners = runners
        self._feeds: dict[str, Feed] = {}
        self._unwritten: list[agent_pb2.ProgressEvent] = []
        self._dirty: dict[str, SessionState] = {}
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="event-writer")

    async def close(self) -> None:
        for feed in self._feeds.values():
            if feed.pump is not None:
                feed.pump.cancel()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()

    async def _feed(self, session_id: str) -> Feed | None:
        if session_id not in self._feeds:
            state = await self._store.session_state(session_id)
            if state is None:
                return None
            self._feeds.setdefault(session_id, Feed(state))
        return self._feeds[session_id]

    async def pump(self, session_id: str, project_id: str, container_id: str, address: str) -> None:
        """Make sure the session's runner stream is being pumped into the log (idempotent)."""
        feed = await self._feed(session_id)
        if feed is None:
            feed = self._feeds.setdefault(session_id, Feed(SessionState(session_id, project_id)))
        if feed.pump is not None and not feed.pump.done():
            return
        state = feed.state
        if state.runner_container != container_id:
            # A new runner numbers this session's events from 1 again: continue after what we have.
            state.runner_base, state.runner_container = state.last_sequence, container_id
        if not state.in_turn:
            # A turn has just started: its prompt_start is the next event. Followers wait for it
            # rather than being told that nothing runs.
            state.in_turn, state.turn_start = True, state.last_sequence + 1
        self._dirty[session_id] = state
        feed.pump = asyncio.create_task(self._pump(feed, address), name=f"pump-{session_id}")

    async def _pump(self, feed: Feed, address: str) -> None:
        state = feed.state
        try:
            events = self._runners.subscribe(
                address, state.session_id, state.last_sequence - state.runner_base
            )
            async for event in events:
                event.sequence += state.runner_base
                if event.sequence > state.last_sequence:
                    await self._record(feed, event)
        except RunnerUnavailable:
            await self._end_turn(
                feed, "the agent's runner went away during the turn (its container stopped or restarted)"
            )
        except ApplianceError as exc:
            await self._end_turn(feed, f"the agent's event stream broke off: {exc.message}")
        else:
            await self._end_turn(feed, "the agent's event stream ended before the turn did")

    async def _record(self, feed: Feed, event: agent_pb2.ProgressEvent) -> None:
        self._unwritten.append(event)
        self._dirty[feed.state.session_id] = feed.state
        await feed.add(event)

    async def _end_turn(self, feed: Feed, message: str) -> None:
        """End a running turn with an `error` terminal event of the gateway's own."""
        if not feed.state.in_turn:
            return
        payload = {"code": -32603, "message": message}
        event = agent_pb2.ProgressEvent(
            message_type=PROMPT_END,
            sub_type="error",
            payload=json.dumps(payload),
            timestamp=int(time.time() * 1000),
            sequence=feed.state.last_sequence + 1,
            session_id=feed.state.session_id,
        )
        await self._record(feed, event)
        log.warning("session %s ended: %s", feed.state.session_id, message)

    async def end_turns(self, sessions: list[SessionState], message: str) -> None:
        """Their container is gone: each of these turns ends with an error."""
        for state in sessions:
            feed = await self._feed(state.session_id)
            if feed is None:
                continue
            if feed.pump is not None:
                feed.pump.cancel()
            await self._end_turn(feed, message)

    async def follow(self, session_id: str, after: int) -> AsyncIterator[agent_pb2.ProgressEvent]:
        """Events after `after` (0: from the latest turn's start), ending after a terminal event.

        Ends at once when the session is idle and the client has seen everything.
        """
        feed = await self._feed(session_id)
        if feed is None:
            raise SessionNotFound(f"no session {session_id!r}; start one with POST /chat")
        cursor = after if after > 0 else max(feed.state.turn_start - 1, 0)
        while True:
            idle = not feed.state.in_turn
            batch = await self._after(feed, cursor)
            for event in batch:
                yield event
                cursor = event.sequence
                if event.message_type == PROMPT_END:
                    return
            if batch:
                continue
            if idle:
                return
            await feed.wait_past(cursor)

    async def _after(self, feed: Feed, cursor: int) -> list[agent_pb2.ProgressEvent]:
        recent = feed.recent
        if recent and cursor >= recent[0].sequence - 1:
            start = cursor - recent[0].sequence + 1
            return [recent[i] for i in range(start, len(recent))]
        if cursor >= feed.state.last_sequence:
            return []
        await self.flush()
        return await self._store.events_after(feed.state.session_id, cursor, PAGE)

    async def flush(self) -> None:
        events, self._unwritten = self._unwritten, []
        dirty, self._dirty = self._dirty, {}
        if not (events or dirty):
            return
        try:
            await self._store.write_events(events, list(dirty.values()))
        except BaseException:
            # Keep them for the next attempt; writing is idempotent (upserts on the keys).
            self._unwritten[:0] = events
            self._dirty = {**dirty, **self._dirty}
            raise

    async def _write_loop(self) -> None:
        """Write events in batches: DuckDB is fast at bulk appends and slow at many small transactions."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.exception("writing the event log failed; retrying")
