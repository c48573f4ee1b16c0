"""appliance/turns.py with the real lifecycle, store, event hub and runner (the demo agent); only the
engine is a fake."""

from __future__ import annotations

import pytest

from appliance.errors import ProjectNotFound
from appliance.gateway import Gateway
from appliance.projects import ProjectRef
from rcoder_rpc import agent_pb2
from tests.fakes.engine import FakeEngine
from tests.unit.appliance.conftest import core_config


def prompt(text: str, session_id: str = "") -> agent_pb2.ChatRequest:
    return agent_pb2.ChatRequest(prompt=text, session_id=session_id)


async def turn_of(gateway: Gateway, session_id: str) -> list[str]:
    return [event.sub_type async for batch in gateway.turns.stream(session_id, 0) for event in batch]


async def test_a_first_chat_starts_the_container_and_streams_the_turn_to_its_end(gateway):
    ref = ProjectRef("p1")
    started = await gateway.turns.chat(ref, prompt("hello"), None)

    sub_types = await turn_of(gateway, started.session_id)

    assert sub_types[0] == "prompt_start" and sub_types[-1] == "end_turn"
    assert "agent_message_chunk" in sub_types
    assert [spec.name for spec in gateway.engine.started] == [
        f"rcoder-{gateway.config.docker_config.stack}-agent-p1"
    ]
    assert started.resumed is None, "no session was asked for"


async def test_a_chat_without_a_session_continues_the_projects_latest(gateway):
    ref = ProjectRef("p1")
    first = await gateway.turns.chat(ref, prompt("hello"), None)
    await turn_of(gateway, first.session_id)

    second = await gateway.turns.chat(ref, prompt("hello again"), None)

    assert second.session_id == first.session_id and second.resumed is True
    assert len(gateway.engine.started) == 1, "the running container is reused"


async def test_a_session_that_cannot_be_resumed_starts_a_new_one_and_says_so(gateway):
    started = await gateway.turns.chat(ProjectRef("p1"), prompt("hello", session_id="gone-1"), None)

    assert started.resumed is False and started.asked_for == "gone-1"
    assert started.session_id != "gone-1"


async def test_status_follows_the_project_and_its_agent(gateway):
    ref = ProjectRef("p1")
    with pytest.raises(ProjectNotFound, match="exists once it received a chat"):
        await gateway.turns.status(ref)

    started = await gateway.turns.chat(ref, prompt("hello"), None)
    await turn_of(gateway, started.session_id)
    status = await gateway.turns.status(ref)

    assert (status.alive, status.state, status.project.latest_session_id) == (
        True,
        "idle",
        started.session_id,
    )


async def test_cancelling_nothing_is_fine_but_answering_nothing_is_not_found(gateway):
    await gateway.turns.cancel(ProjectRef("p-none"), None)
    with pytest.raises(ProjectNotFound):
        await gateway.turns.answer_permission(ProjectRef("p-none"), "s", "r", "allow")


async def test_a_desktop_project_runs_in_its_users_desktop_and_stops_without_it(gateway):
    ref = ProjectRef("p1", user_id="ann")
    assert await gateway.turns.stop_agent(ref) == "no_desktop"

    started = await gateway.turns.chat(ref, prompt("hello"), None)
    await turn_of(gateway, started.session_id)

    [spec] = gateway.engine.started
    assert spec.name.endswith("-desktop-ann") and spec.environment["USER_ID"] == "ann"
    assert await gateway.turns.stop_agent(ref) == "stopped"
    assert (await gateway.turns.status(ref)).alive is False, "the agent process is gone; the desktop stays"


async def test_a_gateway_with_no_record_of_a_turn_learns_it_from_the_runner(tmp_path, gateway):
    """As after a gateway killed before it wrote anything of the turn: a fresh store, the same container."""
    started = await gateway.turns.chat(ProjectRef("p1"), prompt("hello"), None)
    whole = await turn_of(gateway, started.session_id)
    engine = FakeEngine()
    engine.containers = dict(gateway.engine.containers)
    fresh = Gateway.build(core_config(tmp_path, state_dir=str(tmp_path / "fresh-state")), engine)
    await fresh.start()
    try:
        assert await turn_of(fresh, started.session_id) == whole
    finally:
        await fresh.close()
