"""runner/events.py: numbering, replay after a sequence number, and live following."""

from __future__ import annotations

import asyncio

from rcoder_rpc.contract import PROMPT_END, PROMPT_START, SESSION_UPDATE
from runner.events import EventLog


async def turn(log: EventLog, updates: int, end: str = "end_turn") -> None:
    await log.append(PROMPT_START, "prompt_start", {})
    for i in range(updates):
        await log.append(SESSION_UPDATE, "agent_message_chunk", {"i": i})
    await log.append(PROMPT_END, end, {})


async def collect(log: EventLog, after: int = 0) -> list[int]:
    return [event.sequence async for event in log.follow(after)]


async def test_sequence_numbers_start_at_one_and_only_grow():
    log = EventLog()
    await turn(log, 2)
    await turn(log, 1)
    assert [e.sequence for e in log.after(0)] == [1, 2, 3, 4, 5, 6, 7]


async def test_a_late_subscriber_gets_the_latest_turn_from_its_start():
    log = EventLog()
    await turn(log, 2)
    await turn(log, 1)
    assert await collect(log) == [5, 6, 7]


async def test_resuming_after_a_sequence_gives_the_rest_of_that_turn_once():
    log = EventLog()
    await turn(log, 3)
    assert await collect(log, after=2) == [3, 4, 5]
    assert await collect(log, after=5) == []


async def test_a_follower_receives_live_events_until_the_terminal_one():
    log = EventLog()
    await log.append(PROMPT_START, "prompt_start", {})
    follower = asyncio.create_task(collect(log))
    await asyncio.sleep(0)
    for i in range(3):
        await log.append(SESSION_UPDATE, "agent_message_chunk", {"i": i})
        await asyncio.sleep(0)
    await log.append(PROMPT_END, "cancelled", {})
    assert await asyncio.wait_for(follower, 1) == [1, 2, 3, 4, 5]
    assert not log.in_turn


async def test_events_appended_while_a_slow_follower_reads_are_not_lost():
    log = EventLog()
    await log.append(PROMPT_START, "prompt_start", {})
    seen = []

    async def slow() -> None:
        async for event in log.follow():
            seen.append(event.sequence)
            if event.sequence == 1:
                # More events, the terminal one included, arrive while this one is being sent.
                await log.append(SESSION_UPDATE, "plan", {})
                await log.append(PROMPT_END, "end_turn", {})

    await asyncio.wait_for(slow(), 1)
    assert seen == [1, 2, 3]


async def test_the_buffer_keeps_only_its_capacity():
    log = EventLog(capacity=3)
    await turn(log, 5)
    assert [e.sequence for e in log.after(0)] == [5, 6, 7]
