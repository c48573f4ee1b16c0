"""runner/projects.py: an agent started before any chat serves the first chat that wants it."""

from __future__ import annotations

import asyncio
import sys

import pytest

from runner.agent_process import AgentProcess
from runner.agents import AgentSpec
from runner.projects import Projects, TurnRequest

DEMO = AgentSpec("demo", sys.executable, ("-m", "runner.demo_agent"))


def turn(project: str, key: str) -> TurnRequest:
    return TurnRequest(
        project_id=project, session_id="", blocks=[{"type": "text", "text": "hi"}], agent=DEMO, agent_key=key
    )


async def finished(session) -> list[str]:
    return [event.sub_type async for event in session.log.follow()]


@pytest.fixture
def started(monkeypatch) -> list[AgentProcess]:
    """Every agent process started, in order."""
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    processes: list[AgentProcess] = []
    real_start = AgentProcess.start

    async def counted(self: AgentProcess) -> None:
        processes.append(self)
        await real_start(self)

    monkeypatch.setattr(AgentProcess, "start", counted)
    return processes


async def test_the_first_chat_that_wants_the_prestarted_agent_gets_it(tmp_path, started):
    projects = Projects(tmp_path)
    projects.prestart(DEMO, "demo-key")
    try:
        session, _ = await projects.chat(turn("p1", "demo-key"))
        events = await asyncio.wait_for(finished(session), 10)
        assert len(started) == 1, "the chat took the prestarted agent instead of starting one"

        other, _ = await projects.chat(turn("p2", "another-key"))
        await asyncio.wait_for(finished(other), 10)
        assert len(started) == 2, "a chat wanting another agent starts its own"
    finally:
        await projects.close()
    assert events[0] == "prompt_start" and events[-1] == "end_turn"
    assert all(not agent.alive for agent in started), "closing stops every agent, the prestarted one too"


async def test_nothing_is_prestarted_where_each_project_has_its_own_folder(tmp_path, started):
    projects = Projects(tmp_path, per_project_dirs=True)
    projects.prestart(DEMO, "demo-key")
    try:
        session, _ = await projects.chat(turn("p1", "demo-key"))
        await asyncio.wait_for(finished(session), 10)
    finally:
        await projects.close()
    assert len(started) == 1, "only the chat's own agent ran"
    assert started[0].cwd == tmp_path / "p1"
