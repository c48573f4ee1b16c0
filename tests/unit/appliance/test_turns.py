"""appliance/turns.py with the real lifecycle, store, event hub and runner (the demo agent); only the
engine is a fake."""

from __future__ import annotations

import pytest

from appliance.errors import Conflict, ProjectNotFound
from appliance.gateway import Gateway
from appliance.projects import Pod, ProjectRef
from rcoder_wire.bodies import ChatBody
from tests.fakes.engine import FakeEngine
from tests.unit.appliance.conftest import core_config


def prompt(text: str, session_id: str | None = None) -> ChatBody:
    return ChatBody(prompt=text, session_id=session_id)


async def turn_of(gateway: Gateway, session_id: str) -> list[str]:
    return [event.sub_type async for batch in gateway.hub.stream(session_id, 0) for event in batch]


async def test_a_first_chat_starts_the_container_and_streams_the_turn_to_its_end(gateway):
    ref = ProjectRef("p1")
    started = await gateway.turns.chat(ref, prompt("hello"), None)

    sub_types = await turn_of(gateway, started.session_id)

    assert sub_types[0] == "prompt_start" and sub_types[-1] == "end_turn"
    assert "agent_message_chunk" in sub_types
    assert [spec.name for spec in gateway.engine.started] == [
        f"rcoder-{gateway.config.engine_config.stack}-agent-p1"
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


def in_pod(project: str, pod: str = "pod1") -> tuple[ProjectRef, Pod]:
    return ProjectRef(project), Pod.of(pod, "acme", "web", project)


async def test_projects_of_one_pod_share_its_container_each_with_its_folder_and_agent(gateway, tmp_path):
    turns = []
    for project in ("p1", "p2"):
        ref, pod = in_pod(project)
        started = await gateway.turns.chat(ref, prompt(f"create {project}.txt"), None, pod)
        turns.append(await turn_of(gateway, started.session_id))
    other_ref, other_pod = in_pod("p3", pod="pod2")
    await turn_of(gateway, (await gateway.turns.chat(other_ref, prompt("hello"), None, other_pod)).session_id)

    stack = gateway.config.engine_config.stack
    assert [spec.name for spec in gateway.engine.started] == [
        f"rcoder-{stack}-pod-pod1",
        f"rcoder-{stack}-pod-pod2",
    ]
    assert all(sub_types[-1] == "end_turn" for sub_types in turns)
    workspace = tmp_path / "workspace" / "acme" / "web"
    assert (workspace / "p1" / "p1.txt").exists() and (workspace / "p2" / "p2.txt").exists()
    assert not (workspace / "p1" / "p2.txt").exists()


async def test_a_project_stays_in_its_pod_and_one_of_its_own_cannot_join_one(gateway):
    ref, pod = in_pod("p1")
    await turn_of(gateway, (await gateway.turns.chat(ref, prompt("hello"), None, pod)).session_id)

    with pytest.raises(Conflict, match="lives in pod 'pod1'; it cannot move to pod 'pod2'"):
        await gateway.turns.chat(ref, prompt("hello"), None, in_pod("p1", pod="pod2")[1])
    again = await gateway.turns.chat(ref, prompt("hello"), None)  # no pod_id: still its pod
    await turn_of(gateway, again.session_id)
    assert len(gateway.engine.started) == 1

    await turn_of(gateway, (await gateway.turns.chat(ProjectRef("own"), prompt("hi"), None)).session_id)
    with pytest.raises(Conflict, match="has a container and workspace of its own"):
        await gateway.turns.chat(ProjectRef("own"), prompt("hello"), None, in_pod("own")[1])


async def test_stopping_a_project_in_a_pod_stops_its_agent_and_keeps_the_pod_for_the_others(gateway):
    for project in ("p1", "p2"):
        ref, pod = in_pod(project)
        await turn_of(gateway, (await gateway.turns.chat(ref, prompt("hello"), None, pod)).session_id)

    assert await gateway.turns.stop_project(ProjectRef("p1")) == "stopped"
    assert await gateway.turns.stop_project(ProjectRef("p1")) == "none", "its agent is gone already"

    assert [c.name for c in gateway.engine.containers.values()] == [gateway.engine.started[0].name], (
        "the pod stays"
    )
    assert (await gateway.turns.status(ProjectRef("p2"))).alive
    with pytest.raises(ProjectNotFound, match="is not in pod 'pod9'"):
        gateway.turns.check_pod(ProjectRef("p2"), "pod9")
