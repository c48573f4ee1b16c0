"""runner/session.py: a session's turns become events, one turn at a time, and every turn ends with
exactly one terminal event, whatever the agent does."""

from __future__ import annotations

import asyncio

import pytest

from rcoder_rpc import messages
from runner.clone import CLONE_FAILED
from runner.errors import Busy, CloneFailed
from runner.jsonrpc import RpcError
from runner.session import Session


class Agent:
    """An agent whose turn ends when the test says so, or when it is cancelled (unless it is deaf)."""

    def __init__(self, deaf: bool = False) -> None:
        self.deaf = deaf
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.cancelled = False
        self.prompted = asyncio.Event()

    async def prompt(self, session_id: str, blocks: list) -> str:
        self.prompted.set()
        return await self.done

    async def cancel(self, session_id: str) -> None:
        self.cancelled = True
        if not self.deaf:
            self.done.set_result("cancelled")


async def events(session: Session) -> list[tuple[str, dict]]:
    return [(e.sub_type, e.payload) async for e in session.log.follow()]


def chunk(text: str) -> dict:
    return {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}


async def test_a_turn_is_its_start_the_agents_updates_and_its_end():
    agent = Agent()
    session = Session("s1", "p1", agent)
    await session.start_turn([], request_id="r1")
    await session.on_update(chunk("hi"))
    agent.done.set_result("end_turn")

    seen = await asyncio.wait_for(events(session), 5)

    assert [sub for sub, _ in seen] == ["prompt_start", "agent_message_chunk", "end_turn"]
    assert all(payload["request_id"] == "r1" for _, payload in seen)
    assert seen[-1][1]["reason"] == "EndTurn" and not session.busy


async def test_a_second_turn_waits_for_the_first():
    session = Session("s1", "p1", Agent())
    await session.start_turn([], None)
    with pytest.raises(Busy):
        await session.start_turn([], None)


async def test_cancel_asks_the_agent_and_the_turn_ends_cancelled():
    agent = Agent()
    session = Session("s1", "p1", agent)
    await session.start_turn([], None)

    assert await session.cancel(grace=5) is True
    seen = await asyncio.wait_for(events(session), 5)

    assert agent.cancelled and seen[-1][0] == "cancelled"
    assert seen[-1][1]["description"] == "The turn was cancelled."
    assert await session.cancel(grace=5) is False, "nothing runs any more"


async def test_an_agent_that_ignores_cancel_is_ended_after_the_grace_period():
    session = Session("s1", "p1", Agent(deaf=True))
    await session.start_turn([], None)

    await session.cancel(grace=0.1)
    await session.on_update(chunk("too late"))  # an ended turn takes no more events
    seen = await asyncio.wait_for(events(session), 5)

    assert [sub for sub, _ in seen] == ["prompt_start", "cancelled"]
    assert "did not stop within 0.1 s" in seen[-1][1]["description"]
    await session.close()


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        (RpcError(-32000, "quota exceeded", {"retry": False}), -32000, "quota exceeded"),
        (ConnectionError("pipe closed"), -32603, "the agent process ended during the turn (pipe closed)"),
        (RuntimeError("boom"), -32603, "the turn failed: boom"),
    ],
)
async def test_an_agent_that_fails_ends_the_turn_with_one_error(failure, code, message):
    agent = Agent()
    session = Session("s1", "p1", agent)
    await session.start_turn([], None)
    agent.done.set_exception(failure)

    seen = await asyncio.wait_for(events(session), 5)

    assert [sub for sub, _ in seen] == ["prompt_start", "error"]
    assert seen[-1][1]["code"] == code and message in seen[-1][1]["message"]


async def test_closing_ends_a_turn_as_cancelled_or_with_the_error_it_is_given():
    stopped = Session("s1", "p1", Agent())
    await stopped.start_turn([], None)
    await stopped.close()
    assert [sub for sub, _ in await asyncio.wait_for(events(stopped), 5)][-1] == "cancelled"

    shut_down = Session("s2", "p1", Agent())
    await shut_down.start_turn([], None)
    await shut_down.close("the runner shut down during the turn")
    seen = await asyncio.wait_for(events(shut_down), 5)
    assert [sub for sub, _ in seen] == ["prompt_start", "error"], "one terminal event, the error"
    assert seen[-1][1]["message"] == "the runner shut down during the turn"


async def test_a_phase_before_the_prompt_writes_its_events_between_the_start_and_the_agents():
    agent = Agent()
    session = Session("s1", "p1", agent)

    async def before(emit) -> None:
        assert not agent.prompted.is_set()
        await emit("git_clone", {"phase": "receiving objects", "percent": 45})
        await emit("git_clone_end", {"commit": "abc", "ref": "main"})

    await session.start_turn([], "r1", before)
    await agent.prompted.wait()
    await session.on_update(chunk("hi"))
    agent.done.set_result("end_turn")
    seen = await asyncio.wait_for(events(session), 5)

    assert [sub for sub, _ in seen] == [
        "prompt_start",
        "git_clone",
        "git_clone_end",
        "agent_message_chunk",
        "end_turn",
    ]
    assert seen[1][1] == {"phase": "receiving objects", "percent": 45, "request_id": "r1"}


async def test_a_failed_phase_before_ends_the_turn_in_its_words_and_the_agent_is_not_asked():
    agent = Agent()
    session = Session("s1", "p1", agent)

    async def before(emit) -> None:
        raise CloneFailed(CLONE_FAILED, error="couldn't find remote ref nope")

    token = messages.current.set("zh-CN")
    try:
        await session.start_turn([], None, before)
    finally:
        messages.current.reset(token)
    seen = await asyncio.wait_for(events(session), 5)

    assert [sub for sub, _ in seen] == ["prompt_start", "error"] and not agent.prompted.is_set()
    assert seen[-1][1]["message"] == "无法克隆该仓库：couldn't find remote ref nope"  # noqa: RUF001


async def test_a_cancel_stops_the_phase_before_at_once_and_the_turn_ends_cancelled():
    agent = Agent()
    session = Session("s1", "p1", agent)
    stopped = asyncio.Event()

    async def before(emit) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    await session.start_turn([], None, before)
    await asyncio.sleep(0)  # the phase has begun

    assert await asyncio.wait_for(session.cancel(grace=30), 5) is True
    seen = await asyncio.wait_for(events(session), 5)

    assert stopped.is_set() and not agent.prompted.is_set() and not agent.cancelled
    assert [sub for sub, _ in seen] == ["prompt_start", "cancelled"]
    assert seen[-1][1]["description"] == "The turn was cancelled."


async def test_a_cancel_before_the_turn_ran_a_step_still_ends_it():
    session = Session("s1", "p1", Agent())

    async def before(emit) -> None:
        raise AssertionError("never reached")

    await session.start_turn([], None, before)
    await session.cancel(grace=5)  # at once: the turn's task has not run yet

    seen = await asyncio.wait_for(events(session), 5)
    assert [sub for sub, _ in seen] == ["prompt_start", "cancelled"] and not session.busy
