"""The Python client (rcoder/) against the real appliance: a turn streamed to its end, a permission
answered, a cancel, a connection broken mid-turn, previews, the container list and typed errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from rcoder import Appliance, errors
from rcoder import events as ev
from tests.integration.conftest import project_id, wait_listening
from tests.integration.relay import Relay
from tests.integration.test_proxy import put_file
from tests.stack import agent_containers

pytestmark = pytest.mark.engine


@pytest.fixture
async def rc(appliance) -> AsyncIterator[Appliance]:
    async with Appliance(appliance.url, appliance.api_key) as client:
        yield client


def workspace_file(engine, stack: str, project: str, name: str) -> bytes | None:
    [container] = agent_containers(engine, stack, project)
    result = container.exec_run(["cat", f"/app/project_workspace/{name}"])
    return result.output if result.exit_code == 0 else None


async def test_a_chat_streams_typed_events_to_end_turn(rc, engine, stack):
    project = rc.project(project_id())

    turn = await project.chat("create hello.txt", agent="demo", permission_policy="allow")
    seen = [event async for event in turn]

    kinds = [type(event) for event in seen]
    assert kinds[0] is ev.PromptStart and kinds[-1] is ev.TurnEnd and turn.end.stop_reason == "end_turn"
    assert {ev.Plan, ev.ThoughtChunk, ev.MessageChunk, ev.ToolCall, ev.ToolCallUpdate} <= set(kinds)
    assert [e.id for e in seen] == list(range(seen[0].id, seen[0].id + len(seen)))
    assert "I wrote hello.txt" in turn.text and turn.reconnects == 0
    assert workspace_file(engine, stack, project.id, "hello.txt") == b"Hello from the RCoder demo agent!\n"
    status = await project.status()
    assert (status.is_alive, status.status, status.session_id) == (True, "Idle", turn.session_id)
    listed = await rc.containers()
    assert [c.service_type for c in listed.containers if c.project_id == project.id] == ["rcoder"], (
        "the container list names the project, also of a container claimed from the warm pool"
    )


async def test_a_permission_request_is_answered_through_the_client(rc, engine, stack):
    project = rc.project(project_id())

    turn = await project.chat("create x.txt", permission_policy="ask")
    seen = []
    async for event in turn:
        seen.append(event)
        if isinstance(event, ev.PermissionRequest):
            assert event.title == "Write x.txt" and [o.option_id for o in event.options] == [
                "allow",
                "reject",
            ]
            assert workspace_file(engine, stack, project.id, "x.txt") is None, (
                "nothing happens before the answer"
            )
            await event.allow()

    [resolved] = [e for e in seen if isinstance(e, ev.PermissionResolved)]
    assert (resolved.how, resolved.option_id) == ("answered", "allow")
    assert turn.end.stop_reason == "end_turn"
    assert workspace_file(engine, stack, project.id, "x.txt") == b"Hello from the RCoder demo agent!\n"
    with pytest.raises(errors.NotFound, match="no permission request"):
        await turn.answer(resolved.request_id, "allow")


async def test_cancel_ends_a_running_turn(rc):
    project = rc.project(project_id())
    turn = await project.chat("wait 30")
    events = turn.events()
    assert isinstance(await anext(events), ev.PromptStart)

    await turn.cancel()
    rest = [event async for event in events]

    assert isinstance(rest[-1], ev.TurnEnd) and rest[-1].stop_reason == "cancelled"
    assert rest[-1].description == "The turn was cancelled."


async def test_a_connection_broken_mid_turn_resumes_with_no_event_lost_or_doubled(appliance):
    relay = Relay(appliance.url, breaks=2, after_bytes=3000)
    async with relay.running(), Appliance(relay.url, appliance.api_key, transport=relay.transport()) as rc:
        project = rc.project(project_id())
        turn = await project.chat("wait 2 then create slow.txt")
        seen = await asyncio.wait_for(turn.result(), 60)
        again = [event async for event in project.follow(turn.session_id)]  # the whole turn, replayed

    assert relay.broken == 2 and turn.reconnects >= 2
    assert [e.id for e in seen.events] == [e.id for e in again]
    assert seen.stop_reason == "end_turn" and "I wrote slow.txt" in seen.text


async def test_a_preview_link_opens_the_port_in_the_projects_container(rc, appliance, engine, stack):
    project = rc.project(project_id())
    await (await project.chat("hello")).result()
    [container] = agent_containers(engine, stack, project.id)
    put_file(container, "index.html", b"<h1>preview through the client</h1>")
    container.exec_run(
        ["python3", "-m", "http.server", "5173", "--directory", "/app/project_workspace"], detach=True
    )
    wait_listening(container, 5173)

    preview = await project.preview(5173)

    assert preview.preview_url.startswith(f"{appliance.url}/proxy/{project.id}/5173/?rcoder_token=")
    async with httpx.AsyncClient() as anonymous:  # the token opens it, without the API key
        page = await anonymous.get(preview.preview_url)
    assert page.status_code == 200 and "preview through the client" in page.text


async def test_errors_are_typed_from_the_envelope(rc, appliance):
    with pytest.raises(errors.ProjectNotFound) as missing:
        await rc.project(project_id()).status()
    assert (
        missing.value.status_code == 404 and missing.value.code == "CONTAINER_NOT_FOUND" and missing.value.tid
    )
    async with Appliance(appliance.url, "wrong-key") as wrong:
        with pytest.raises(errors.Unauthorized, match="x-api-key"):
            await wrong.agents()
    with pytest.raises(errors.BadRequest, match="invalid project_id"):
        rc.project("no/such/project")
    with pytest.raises(errors.BadRequest, match="prompt"):
        await rc.project(project_id()).chat("")
    async with Appliance("http://127.0.0.1:9", "key") as nowhere:
        with pytest.raises(errors.TransportError):
            await nowhere.health()
