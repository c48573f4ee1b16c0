"""appliance/rate_limits.py: a minute's worth at once, then one more as each share of the minute passes."""

from __future__ import annotations

import pytest

from appliance.errors import TooManyRequests
from appliance.messages import Phrase
from appliance.rate_limits import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_a_minutes_worth_then_a_wait_that_says_how_long():
    clock = Clock()
    limit = RateLimit(6, Phrase("prompts"), clock)
    for _ in range(6):
        limit.take("p1")
    with pytest.raises(TooManyRequests, match="too many prompts; retry in 10 s") as refused:
        limit.take("p1")
    assert refused.value.retry_after == 10 and refused.value.status_code == 429
    limit.take("p2")  # another key has its own bucket
    clock.now += 10
    limit.take("p1")
    with pytest.raises(TooManyRequests):
        limit.take("p1")


def test_idle_keys_are_dropped_when_there_are_many(monkeypatch):
    monkeypatch.setattr("appliance.rate_limits.MAX_KEYS", 3)
    clock = Clock()
    limit = RateLimit(60, Phrase("prompts"), clock)
    for key in ("a", "b", "c"):
        limit.take(key)
    clock.now += 60
    limit.take("d")
    assert set(limit._buckets) == {"d"}
