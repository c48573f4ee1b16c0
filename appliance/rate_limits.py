"""Per-key rate limits: a token bucket per key (a project, the stack), holding a minute's worth."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from appliance.errors import TooManyRequests
from appliance.messages import Phrase

# Buckets kept before the full ones (keys idle for a minute or more) are dropped.
MAX_KEYS = 10_000


class RateLimit:
    def __init__(self, per_minute: int, what: Phrase, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._what = what
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens, when)

    def take(self, key: str) -> None:
        """Count one request for `key`, or raise TooManyRequests saying when to retry."""
        now = self._clock()
        tokens, then = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self._rate)
            raise TooManyRequests(
                "too many {what}; retry in {wait} s", retry_after=wait, what=self._what, wait=wait
            )
        if len(self._buckets) >= MAX_KEYS:
            self._drop_full(now)
        self._buckets[key] = (tokens - 1.0, now)

    def _drop_full(self, now: float) -> None:
        full = [
            k
            for k, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self._rate >= self._burst
        ]
        for key in full:
            del self._buckets[key]
