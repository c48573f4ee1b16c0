"""Writes that go behind: each runs with the store's next job, or on its own shortly after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import duckdb

Write = Callable[[duckdb.DuckDBPyConnection], Any]
# How long a deferred write may wait for the store's next job before it is run on its own.
WRITE_BEHIND_SECONDS = 0.05


class WriteBehind:
    """The writes deferred to the store's next job, in order, and the timer that runs `flush` when
    no job comes (flush is a job that runs them)."""

    def __init__(self, flush: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._flush = flush
        self._writes: list[Write] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    def defer(self, write: Write) -> None:
        self._writes.append(write)
        self.flush_in(WRITE_BEHIND_SECONDS)

    def take(self) -> list[Write]:
        """Every write deferred so far, which the caller then runs (in order)."""
        writes, self._writes = self._writes, []
        return writes

    def put_back(self, writes: list[Write]) -> None:
        """Writes taken but not done: they run again first, before any deferred since."""
        self._writes[:0] = writes

    def flush_in(self, seconds: float) -> None:
        """Flush `seconds` from now, unless a flush is due already."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        if self._writes:
            task = asyncio.create_task(self._flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def close(self) -> None:
        """Flush what is left, now: nothing runs on its own after this."""
        if self._timer is not None:
            self._timer.cancel()
        await asyncio.gather(*self._flushing, return_exceptions=True)
        if self._writes:
            await self._flush()
