"""rcoder/turn.py: a recorded turn read through a real HTTP connection, one that breaks mid-turn too."""

from __future__ import annotations

import pytest

from rcoder import Appliance, errors, turn
from rcoder import events as ev
from tests.unit.rcoder.sse_server import SESSION, ReplayServer, recorded_events, serving

RECORDED_IDS = [i for i, _ in recorded_events() if i is not None]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(turn, "FIRST_BACKOFF_SECONDS", 0.001)
    monkeypatch.setattr(turn, "MAX_BACKOFF_SECONDS", 0.01)


async def read(server: ReplayServer) -> tuple[turn.Turn, list[ev.Event]]:
    async with serving(server), Appliance(server.url, "key") as appliance:
        followed = appliance.project("rec1").follow(SESSION)
        return followed, [event async for event in followed]


async def test_a_whole_turn_arrives_as_typed_events():
    followed, seen = await read(ReplayServer())

    assert [e.id for e in seen] == RECORDED_IDS == list(range(1, 35))
    assert isinstance(seen[0], ev.PromptStart) and isinstance(seen[-1], ev.TurnEnd)
    assert seen[-1].stop_reason == "end_turn" and followed.end is seen[-1]
    plans = [e for e in seen if isinstance(e, ev.Plan)]
    assert [p.entries[1] for p in plans][:2] == [
        ev.PlanEntry("Write hello.txt", "pending", "medium"),
        ev.PlanEntry("Write hello.txt", "in_progress", "medium"),
    ]
    assert all(entry.status == "completed" for entry in plans[-1].entries)
    [thought] = [e for e in seen if isinstance(e, ev.ThoughtChunk)]
    assert thought.text == "The request is: 'create hello.txt'. "
    assert followed.text.startswith("I am the RCoder demo agent") and "I wrote hello.txt" in followed.text
    [call] = [e for e in seen if type(e) is ev.ToolCall]
    assert (call.tool_call_id, call.title, call.kind, call.status) == (
        "write-da8784aa",
        "Write hello.txt",
        "edit",
        "pending",
    )
    updates = [e.status for e in seen if isinstance(e, ev.ToolCallUpdate)]
    assert updates == ["in_progress", "completed"]
    [resolved] = [e for e in seen if isinstance(e, ev.PermissionResolved)]
    assert (resolved.how, resolved.option_id) == ("answered", "allow")


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked-body-breaks", "close-delimited-body-ends"])
async def test_a_dropped_connection_resumes_with_no_event_lost_or_doubled(chunked):
    server = ReplayServer(drops=[5, 0, 12], chunked=chunked)

    followed, seen = await read(server)

    assert [e.id for e in seen] == RECORDED_IDS
    assert followed.reconnects == 3
    # The first connection asks for the latest turn; each reconnection for what follows the last event seen.
    assert server.asked == [None, "5", "5", "17"]


async def test_events_a_server_sends_again_are_skipped():
    server = ReplayServer(drops=[10], overlap=4)

    followed, seen = await read(server)

    assert [e.id for e in seen] == RECORDED_IDS
    assert followed.reconnects == 1 and server.asked == [None, "10"], (
        "events 7-10 came twice, and were skipped"
    )


async def test_everything_seen_ends_the_turn_on_204():
    async with serving(server := ReplayServer()), Appliance(server.url, "key") as appliance:
        followed = appliance.project("rec1").follow(SESSION, after=34)
        assert [e async for e in followed] == []
        assert followed.end is None and server.asked == ["34"]


async def test_a_permission_request_is_answered_through_its_turn():
    async with serving(server := ReplayServer()), Appliance(server.url, "key") as appliance:
        async for event in appliance.project("rec1").follow(SESSION):
            if isinstance(event, ev.PermissionRequest):
                assert event.title == "Write hello.txt" and event.timeout_seconds == 300
                await event.allow()

    assert server.posted == [
        (
            "/agent/permission",
            {
                "project_id": "rec1",
                "session_id": SESSION,
                "request_id": "74c3245a627e4f238583a7beacba7871",
                "option_id": "allow",
            },
        )
    ]


async def test_it_gives_up_when_no_connection_brings_anything_new():
    server = ReplayServer(drops=[3] + [0] * turn.MAX_ATTEMPTS)

    with pytest.raises(errors.TransportError, match="after event 3 and could not get it back in 8 attempts"):
        await read(server)
    assert len(server.asked) == 1 + turn.MAX_ATTEMPTS


async def test_a_users_project_uses_the_computer_routes():
    async with serving(server := ReplayServer()), Appliance(server.url, "key") as appliance:
        project = appliance.project("rec1", user="ann")
        turn = await project.chat("create hello.txt", permission_policy="ask")
        async for event in turn:
            if isinstance(event, ev.PermissionRequest):
                await event.reject()
        await project.cancel(turn.session_id)

    assert [path for path, _ in server.posted] == [
        "/computer/chat",
        "/agent/permission",
        "/computer/agent/session/cancel",
    ]
    assert all(body["user_id"] == "ann" for _, body in server.posted)
    assert server.posted[1][1]["option_id"] == "reject"
    assert server.paths == [f"/computer/progress/{SESSION}"]
