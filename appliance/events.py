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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from appliance import metrics
from appliance.errors import ApplianceError, RunnerUnavailable, SessionNotFound
from appliance.runner_client import RunnerClient
from appliance.store import UNWRITABLE, SessionState, Store
from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import PROMPT_END, PROMPT_START

log = logging.getLogger(__name__)

RECENT_EVENTS = 4096
FLUSH_SECONDS = 0.05
PAGE = 1000


class Follower(Protocol):
    """Takes a session's events as they come (the HTTP layer's SSE streams)."""

    def deliver(self, events: list[agent_pb2.ProgressEvent]) -> bool:
        """Take the events (they may repeat ones it has had); False when it takes no more (the turn
        ended, it is gone, or it fell too far behind): it is then let go."""


@dataclass
class Feed:
    """One session: its state (as stored), its recent events, and the followers it hands new ones to.

    New events go to every follower synchronously, without waking a coroutine per follower: with a
    thousand clients on one session, an asyncio.Condition cost more than handing each its bytes. The
    events added in one turn of the event loop are handed out together, once that turn is over, so
    that a burst costs each follower one write rather than one per event.
    """

    state: SessionState
    recent: deque[agent_pb2.ProgressEvent] = field(default_factory=lambda: deque(maxlen=RECENT_EVENTS))
    followers: set[Follower] = field(default_factory=set)
    pump: asyncio.Task[None] | None = None
    unsent: list[agent_pb2.ProgressEvent] = field(default_factory=list)

    def add(self, event: agent_pb2.ProgressEvent) -> None:
        state = self.state
        state.last_sequence = event.sequence
        if event.message_type == PROMPT_START:
            state.turn_start = event.sequence
        state.in_turn = event.message_type != PROMPT_END
        self.recent.append(event)
        if not self.unsent:
            asyncio.get_running_loop().call_soon(self._hand_out)
        self.unsent.append(event)

    def _hand_out(self) -> None:
        batch, self.unsent = self.unsent, []
        for follower in list(self.followers):
            if not follower.deliver(batch):
                self.followers.discard(follower)


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

    @property
    def active_turns(self) -> int:
        """Turns running now, of the sessions this gateway has looked at since it started."""
        return sum(1 for feed in self._feeds.values() if feed.state.in_turn)

    async def _feed(self, session_id: str) -> Feed | None:
        if session_id not in self._feeds:
            state = await self._store.sessions.state(session_id)
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

    async def catch_up(self, container_id: str, address: str, key_of: Callable[[str], str]) -> None:
        """Pump each session of a runner that holds events the log has not got. The log is written in
        batches, so a gateway killed just after a turn started may have no record of it (or of its
        last events); the runner keeps every event, and is asked at start-up."""
        status = await self._runners.container_status(address)
        for progress in status.sessions:
            feed = await self._feed(progress.session_id)
            if feed is not None and feed.pump is not None and not feed.pump.done():
                continue
            state = feed.state if feed is not None else None
            have = (
                state.last_sequence - state.runner_base
                if state and state.runner_container == container_id
                else 0
            )
            if progress.busy or progress.last_sequence > have:
                log.info("catching up with session %s from its runner", progress.session_id)
                await self.pump(progress.session_id, key_of(progress.project_id), container_id, address)

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
        metrics.EVENTS.inc()
        self._unwritten.append(event)
        self._dirty[feed.state.session_id] = feed.state
        feed.add(event)

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

    async def position(self, session_id: str, after: int) -> int | None:
        """Where a follower of the session starts: after `after` (0: before the latest turn's start);
        None when there is nothing to follow (the session is idle and the follower has seen it all)."""
        feed = await self._feed(session_id)
        if feed is None:
            raise SessionNotFound(
                "no session {session_id!r}; start one with POST /chat", session_id=session_id
            )
        cursor = after if after > 0 else max(feed.state.turn_start - 1, 0)
        if not feed.state.in_turn and cursor >= feed.state.last_sequence:
            return None
        return cursor

    async def follow(self, session_id: str, cursor: int, follower: Follower) -> None:
        """Hand `follower` the session's events after `cursor`: those there are now (from memory, or
        the store for old ones), then each as it is added, up to and including the turn's end."""
        feed = await self._feed(session_id)
        if feed is None:
            raise SessionNotFound(
                "no session {session_id!r}; start one with POST /chat", session_id=session_id
            )
        while batch := await self._after(feed, cursor):
            ends = next((i for i, e in enumerate(batch) if e.message_type == PROMPT_END), None)
            if not follower.deliver(batch if ends is None else batch[: ends + 1]) or ends is not None:
                return
            cursor = batch[-1].sequence
        # Caught up, with nothing awaited since the last look: from here the feed hands it every event.
        if feed.state.in_turn:
            feed.followers.add(follower)
        else:
            follower.deliver([])  # the turn ended before anything new came: nothing more will

    def unfollow(self, session_id: str, follower: Follower) -> None:
        if (feed := self._feeds.get(session_id)) is not None:
            feed.followers.discard(follower)

    async def stream(self, session_id: str, after: int) -> AsyncIterator[list[agent_pb2.ProgressEvent]]:
        """The events after `after` (0: from the latest turn's start) as an async iterator of batches,
        up to and including the turn's end (for the gateway's own use and its tests)."""
        cursor = await self.position(session_id, after)
        if cursor is None:
            return
        queue = Queued()
        await self.follow(session_id, cursor, queue)
        try:
            while (batch := await queue.get()) is not None:
                yield batch
        finally:
            self.unfollow(session_id, queue)

    async def _after(self, feed: Feed, cursor: int) -> list[agent_pb2.ProgressEvent]:
        recent = feed.recent
        if recent and cursor >= recent[0].sequence - 1:
            start = cursor - recent[0].sequence + 1
            return [recent[i] for i in range(start, len(recent))]
        if cursor >= feed.state.last_sequence:
            return []
        await self.flush()
        return await self._store.sessions.events_after(feed.state.session_id, cursor, PAGE)

    async def flush(self) -> None:
        events, self._unwritten = self._unwritten, []
        dirty, self._dirty = self._dirty, {}
        if not (events or dirty):
            return
        try:
            await self._store.sessions.write_events(events, list(dirty.values()))
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
            except UNWRITABLE:
                pass  # the store has said why; the events stay here until they are written
            except Exception:
                log.exception("writing the event log failed; retrying")


class Queued:
    """A follower that queues what it is handed, for whoever reads it (None marks the end)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[list[agent_pb2.ProgressEvent] | None] = asyncio.Queue()
        self._cursor = 0

    def deliver(self, events: list[agent_pb2.ProgressEvent]) -> bool:
        new = [event for event in events if event.sequence > self._cursor]
        if new:
            self._cursor = new[-1].sequence
            self._queue.put_nowait(new)
        if not events or (new and new[-1].message_type == PROMPT_END):
            self._queue.put_nowait(None)
            return False
        return True

    async def get(self) -> list[agent_pb2.ProgressEvent] | None:
        return await self._queue.get()
