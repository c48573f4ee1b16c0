"""A session's progress events, numbered, kept for replay, and followed live.

Every event gets the next sequence number of its session (1, 2, 3, ...). A subscriber
names the last number it saw and receives everything after it exactly once, first
from the buffer and then live, up to and including the turn's terminal event.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rcoder_rpc.contract import PROMPT_END, PROMPT_START

DEFAULT_CAPACITY = 20_000


@dataclass(frozen=True, slots=True)
class Event:
    sequence: int
    message_type: str
    sub_type: str
    payload: dict[str, Any]
    request_id: str | None
    timestamp_ms: int

    @property
    def terminal(self) -> bool:
        return self.message_type == PROMPT_END


class EventLog:
    """The ordered events of one session, with the start of the latest turn remembered."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._events: deque[Event] = deque(maxlen=capacity)
        self._last_sequence = 0
        self._turn_start = 1
        self._changed = asyncio.Condition()

    @property
    def last_sequence(self) -> int:
        return self._last_sequence

    @property
    def in_turn(self) -> bool:
        """True between a turn's prompt_start and its terminal event."""
        return bool(self._events) and not self._events[-1].terminal

    async def append(
        self, message_type: str, sub_type: str, payload: dict[str, Any], request_id: str | None = None
    ) -> Event:
        """Number and keep the event (before anything is awaited, so events keep their order), then
        wake the followers."""
        self._last_sequence += 1
        event = Event(
            sequence=self._last_sequence,
            message_type=message_type,
            sub_type=sub_type,
            payload=payload,
            request_id=request_id,
            timestamp_ms=int(time.time() * 1000),
        )
        if message_type == PROMPT_START:
            self._turn_start = event.sequence
        self._events.append(event)
        async with self._changed:
            self._changed.notify_all()
        return event

    def after(self, sequence: int) -> list[Event]:
        """Buffered events with a sequence number greater than `sequence`, oldest first."""
        if not self._events or sequence >= self._last_sequence:
            return []
        first = self._events[0].sequence
        start = max(sequence + 1 - first, 0)
        return [self._events[i] for i in range(start, len(self._events))]

    async def follow(self, after_sequence: int = 0) -> AsyncIterator[Event]:
        """Events after `after_sequence` (0: from the latest turn's start), ending after a terminal event.

        Ends at once when the session is idle and the subscriber has already seen everything.
        """
        cursor = after_sequence if after_sequence > 0 else self._turn_start - 1
        while True:
            # Snapshot before yielding: events appended while the subscriber reads are sent next round.
            idle, batch = not self.in_turn, self.after(cursor)
            for event in batch:
                yield event
                cursor = event.sequence
                if event.terminal:
                    return
            if batch:
                continue
            if idle:
                return
            await self._wait_past(cursor)

    async def _wait_past(self, sequence: int) -> None:
        """Until an event after `sequence` is here, or the session is idle."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._last_sequence > sequence or not self.in_turn)
