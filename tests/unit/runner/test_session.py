"""runner/session.py: a session's turns become events, one turn at a time, and every turn ends with
exactly one terminal event, whatever the agent does."""

from __future__ import annotations

import asyncio

import pytest

from runner.errors import Busy
from runner.jsonrpc import RpcError
from runner.session import Session


class Agent:
    """An agent whose turn ends when the test says so, or when it is cancelled (unless it is deaf)."""

    def __init__(self, deaf: bool = False) -> None:
        self.deaf = deaf
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.cancelled = False

    async def prompt(self, session_id: str, blocks: list) -> str:
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
