"""appliance/events.py on a real DuckDB store: numbering across runner incarnations, followers served
from memory and from the store, batched writes that are retried, and turns ended by the gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from appliance.errors import RunnerUnavailable
from appliance.events import EventHub
from appliance.store import Store
from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import PROMPT_END, PROMPT_START, SESSION_UPDATE


def event(sequence: int, message_type: str = SESSION_UPDATE, sub_type: str = "agent_message_chunk"):
    return agent_pb2.ProgressEvent(
        session_id="s1", sequence=sequence, message_type=message_type, sub_type=sub_type, timestamp=1
    )


def turn(first: int, updates: int) -> list[agent_pb2.ProgressEvent]:
    """A whole turn as a runner numbers it, starting at `first`."""
    return [
        event(first, PROMPT_START, "prompt_start"),
        *(event(first + 1 + i) for i in range(updates)),
        event(first + 1 + updates, PROMPT_END, "end_turn"),
    ]


class Runners:
    """The runners' event streams: each address serves the events queued for it, then ends (None)
    or breaks off (an exception). Like a runner that lost track, it may replay what was asked past."""

    def __init__(self) -> None:
        self.streams: dict[str, asyncio.Queue] = {}
        self.asked: list[tuple[str, int]] = []

    def queue(self, address: str) -> asyncio.Queue:
        return self.streams.setdefault(address, asyncio.Queue())

    async def subscribe(self, address: str, session_id: str, after: int) -> AsyncIterator:
        self.asked.append((address, after))
        queue = self.queue(address)
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "rcoder.duckdb")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def hub(store) -> AsyncIterator[tuple[EventHub, Runners]]:
    runners = Runners()
    hub = EventHub(store, runners)
    await hub.start()
    yield hub, runners
    await hub.close()


async def follow(hub: EventHub, after: int = 0) -> list[int]:
    return [e.sequence async for batch in hub.stream("s1", after) for e in batch]


async def follow_until(hub: EventHub, last: int) -> list[int]:
    seen = []
    async for batch in hub.stream("s1", 0):
        for e in batch:
            seen.append(e.sequence)
            if e.sequence == last:
                return seen
    return seen


async def test_a_followers_events_come_live_and_end_with_the_turn(hub):
    hub, runners = hub
    await hub.pump("s1", "p1", "c1", "a1")
    follower = asyncio.create_task(follow(hub))
    for item in turn(1, 3):
        runners.queue("a1").put_nowait(item)

    assert await asyncio.wait_for(follower, 5) == [1, 2, 3, 4, 5]
    assert await follow(hub, after=5) == [], "the session is idle and the client has seen it all"


async def test_a_new_runner_numbers_from_one_and_the_log_continues_after_what_it_has(hub, store):
    hub, runners = hub
    await hub.pump("s1", "p1", "c1", "a1")
    for item in [*turn(1, 1), None]:
        runners.queue("a1").put_nowait(item)
    assert await asyncio.wait_for(follow(hub), 5) == [1, 2, 3]

    await hub.pump("s1", "p1", "c2", "a2")  # the container was replaced: its runner starts at 1 again
    for item in [*turn(1, 2), None]:
        runners.queue("a2").put_nowait(item)
    assert await asyncio.wait_for(follow(hub, after=3), 5) == [4, 5, 6, 7]

    await hub.flush()
    stored = await store.sessions.events_after("s1", 0, 100)
    assert [e.sequence for e in stored] == [1, 2, 3, 4, 5, 6, 7]
    assert [e.sub_type for e in stored][-1] == "end_turn"


async def test_after_a_restart_the_same_runners_events_are_taken_once(hub, store, monkeypatch):
    hub, runners = hub
    await hub.pump("s1", "p1", "c1", "a1")
    whole = turn(1, 3)
    for item in whole[:3]:
        runners.queue("a1").put_nowait(item)
    assert await asyncio.wait_for(follow_until(hub, 3), 5) == [1, 2, 3]
    await hub.close()  # the gateway stops mid-turn; what it had is written

    written: list[int] = []
    real_write = store.sessions.write_events

    async def counted(events, sessions):
        written.extend(e.sequence for e in events)
        await real_write(events, sessions)

    monkeypatch.setattr(store.sessions, "write_events", counted)
    again = EventHub(store, runners)  # ... and starts again, on the same store
    await again.start()
    try:
        await again.pump("s1", "p1", "c1", "a1")
        for item in whole:  # the runner replays the whole turn
            runners.queue("a1").put_nowait(item)
        assert await asyncio.wait_for(follow(again, after=3), 5) == [4, 5]
        await again.flush()
    finally:
        await again.close()
    assert runners.asked[-1] == ("a1", 3), "it asked for what came after what it had"
    assert written == [4, 5], "what it had already was not taken again"
    assert [e.sequence for e in await store.sessions.events_after("s1", 0, 100)] == [1, 2, 3, 4, 5]


async def test_a_runner_that_goes_away_mid_turn_ends_it_with_an_error(hub, store):
    hub, runners = hub
    await hub.pump("s1", "p1", "c1", "a1")
    for item in [*turn(1, 1)[:2], RunnerUnavailable("gone")]:
        runners.queue("a1").put_nowait(item)

    assert await asyncio.wait_for(follow(hub), 5) == [1, 2, 3]
    await hub.flush()
    last = (await store.sessions.events_after("s1", 2, 10))[0]
    assert last.sub_type == "error" and "runner went away" in json.loads(last.payload)["message"]
    assert await store.sessions.in_turn() == [], "the turn is over"


async def test_old_events_come_from_the_store_once_memory_has_let_them_go(hub, store, monkeypatch):
    hub, runners = hub
    monkeypatch.setattr("appliance.events.RECENT_EVENTS", 4)
    await hub.pump("s1", "p1", "c1", "a1")
    for item in turn(1, 8):
        runners.queue("a1").put_nowait(item)
    live = await asyncio.wait_for(follow(hub), 5)

    replayed = await follow(hub, after=1)

    assert live == list(range(1, 11))
    assert replayed == list(range(2, 11)), "the first events were read back from the store"


async def test_a_failed_write_keeps_the_events_for_the_next_one(hub, store, monkeypatch):
    hub, runners = hub
    await hub.pump("s1", "p1", "c1", "a1")
    for item in turn(1, 1):
        runners.queue("a1").put_nowait(item)
    await asyncio.wait_for(follow(hub), 5)
    real_write = store.sessions.write_events
    failures = []

    async def failing_once(events, sessions):
        if not failures:
            failures.append(len(events))
            raise OSError("disk full")
        await real_write(events, sessions)

    monkeypatch.setattr(store.sessions, "write_events", failing_once)
    with pytest.raises(OSError):
        await hub.flush()
    await hub.flush()

    assert failures == [3]
    assert [e.sequence for e in await store.sessions.events_after("s1", 0, 100)] == [1, 2, 3]
    assert (await store.sessions.state("s1")).last_sequence == 3


async def test_a_turn_whose_container_went_ends_with_an_error_for_its_followers(hub, store):
    hub, runners = hub
    await hub.pump("s1", "p1", "c1", "a1")
    runners.queue("a1").put_nowait(event(1, PROMPT_START, "prompt_start"))
    follower = asyncio.create_task(follow(hub))
    await hub.flush()
    [state] = await store.sessions.in_turn()

    await hub.end_turns([state], "the agent container died: the turn was lost")

    assert await asyncio.wait_for(follower, 5) == [1, 2]
    last = hub._feeds["s1"].recent[-1]
    assert (last.sub_type, json.loads(last.payload)["message"]) == (
        "error",
        "the agent container died: the turn was lost",
    )
