"""`eventually`: the one way the tests wait for something that happens on its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float, what: str, interval: float = 0.3) -> T:
    """Call `check` until it returns something truthy (returned), or fail after `timeout` seconds
    saying `what` never happened, with the last value seen. Exceptions of `check` count as "not yet"
    until the time is up, when the last one is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            error = None
        except Exception as exc:  # retried until the deadline, then re-raised
            value, error = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            if error is not None:
                raise AssertionError(f"{what} did not happen within {timeout:g} s") from error
            raise AssertionError(f"{what} did not happen within {timeout:g} s (last: {value!r})")
        time.sleep(interval)


async def eventually_async(
    check: Callable[[], Awaitable[T]], seconds: float, what: str, interval: float = 0.3
) -> T:
    """`eventually` for a coroutine check, on the running event loop (which it does not block)."""
    deadline = time.monotonic() + seconds
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:g} s (last: {value!r})")
        await asyncio.sleep(interval)
    return value
