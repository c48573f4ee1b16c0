"""`Turn`: one prompt's events, read from the session's SSE stream as they happen. When the connection
drops, the turn reconnects with `Last-Event-ID`, so no event is lost and none comes twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rcoder import events, sse
from rcoder.errors import TransportError, Unavailable

if TYPE_CHECKING:
    from rcoder.project import Project

# Reconnecting gives up after this many attempts in a row that brought no new event.
MAX_ATTEMPTS = 8
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 5.0


@dataclass
class TurnResult:
    """What a turn came to: the reply's text, and how it ended (`end` None: it ended unseen)."""

    session_id: str
    text: str
    end: events.TurnEnd | None
    events: list[events.Event] = field(repr=False)

    @property
    def stop_reason(self) -> str | None:
        return self.end.stop_reason if self.end else None


class Turn:
    """Iterate it (`async for event in turn`) for typed events until the turn's end. `reconnects` counts
    the connections re-established on the way."""

    def __init__(
        self,
        project: Project,
        session_id: str,
        *,
        last_event_id: int | None = None,
        resumed: bool | None = None,
    ) -> None:
        self.project = project
        self.session_id = session_id
        self.resumed = resumed
        self.last_event_id = last_event_id
        self.end: events.TurnEnd | None = None
        self.reconnects = 0
        self.text = ""
        self._finished = False

    def __repr__(self) -> str:
        return f"Turn({self.project!r}, session {self.session_id!r}, last event {self.last_event_id})"

    def __aiter__(self) -> AsyncIterator[events.Event]:
        return self.events()

    async def events(self) -> AsyncIterator[events.Event]:
        """The turn's events from the last one seen, reconnecting as needed; ends after its end."""
        failures = 0
        while self.end is None:
            progressed = False
            problem = "the stream ended before the turn did"
            try:
                # Closed here, in order, when the reader stops early (not later by the garbage collector).
                async with contextlib.aclosing(self._connection()) as connection:
                    async for event in connection:
                        progressed = True
                        yield event
                        if self.end is not None:
                            return
                if self._finished:
                    return
            except (TransportError, Unavailable) as exc:
                problem = str(exc)
            failures = 0 if progressed else failures + 1
            if failures >= MAX_ATTEMPTS:
                raise TransportError(
                    f"lost the stream of session {self.session_id} after event {self.last_event_id} and "
                    f"could not get it back in {MAX_ATTEMPTS} attempts: {problem}"
                )
            self.reconnects += 1
            await asyncio.sleep(min(FIRST_BACKOFF_SECONDS * 2**failures, MAX_BACKOFF_SECONDS))

    async def _connection(self) -> AsyncIterator[events.Event]:
        """One connection's new events (a repeated or older id is skipped)."""
        self._finished = False
        route = f"{self.project.progress_route}/{self.session_id}"
        async with self.project.appliance.stream(route, self.last_event_id) as lines:
            if lines is None:
                self._finished = True  # 204: every event seen, and the agent is idle
                return
            async with contextlib.aclosing(sse.parse(lines)) as messages:
                async for message in messages:
                    event = events.from_sse(message, self.answer)
                    if event.id is not None:
                        if self.last_event_id is not None and event.id <= self.last_event_id:
                            continue
                        self.last_event_id = event.id
                    if type(event) is events.MessageChunk:
                        self.text += event.text
                    if isinstance(event, events.TurnEnd):
                        self.end = event
                    yield event

    async def answer(self, request_id: str, option_id: str | None) -> None:
        """Answer one of this turn's permission requests (None cancels it)."""
        await self.project.answer(self.session_id, request_id, option_id)

    async def cancel(self) -> None:
        """Cancel the turn: it ends with a `cancelled` event, which iterating it still yields."""
        await self.project.cancel(self.session_id)

    async def result(self) -> TurnResult:
        """Read the turn to its end: the reply's text and its end."""
        seen = [event async for event in self]
        return TurnResult(self.session_id, self.text, self.end, seen)
