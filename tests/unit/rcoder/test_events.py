"""rcoder/events.py: each kind of event the appliance sends becomes its class, unknown ones an Update."""

from __future__ import annotations

import json

import pytest

from rcoder import events as ev
from rcoder.sse import ServerSentEvent


def sse(message_type: str, sub_type: str, data: dict, event_id: str | None = "9") -> ServerSentEvent:
    body = {
        "sessionId": "s1",
        "messageType": message_type,
        "subType": sub_type,
        "data": data,
        "timestamp": "t",
    }
    return ServerSentEvent(event_id, sub_type, json.dumps(body))


def test_a_cancelled_turn_ends_with_its_reason():
    end = ev.from_sse(
        sse(
            "sessionPromptEnd", "cancelled", {"reason": "Cancelled", "description": "The turn was cancelled."}
        )
    )
    assert isinstance(end, ev.TurnEnd) and end.terminal
    assert (end.stop_reason, end.description, end.id) == ("cancelled", "The turn was cancelled.", 9)


def test_an_agent_error_keeps_its_message():
    end = ev.from_sse(sse("sessionPromptEnd", "error", {"code": -32603, "message": "model unreachable"}))
    assert isinstance(end, ev.TurnEnd) and end.error_message == "model unreachable"


def test_a_stream_error_has_no_id_and_ends_the_turn():
    error = ev.from_sse(
        sse("error", "error", {"code": "GRPC_ERROR", "message": "runner gone"}, event_id=None)
    )
    assert isinstance(error, ev.StreamError) and error.terminal and error.id is None
    assert (error.code, error.error_message, error.stop_reason) == ("GRPC_ERROR", "runner gone", "error")


@pytest.mark.parametrize(
    "body",
    [
        sse("agentSessionUpdate", "current_mode_update", {"currentModeId": "code"}).data,
        '{"sessionId": "s1", "messageType": "somethingNew", "subType": "x", "data": {}, "timestamp": "t"}',
        "not json",
    ],
    ids=["a-kind-without-a-class", "a-newer-message-type", "not-json"],
)
def test_what_this_client_does_not_know_is_an_update(body):
    event = ev.from_sse(ServerSentEvent("3", "x", body))
    assert type(event) is ev.Update and event.id == 3 and not event.terminal


async def test_a_permission_request_answers_with_the_option_of_the_kind_asked_for():
    answers = []

    async def responder(request_id: str, option_id: str | None) -> None:
        answers.append((request_id, option_id))

    data = {
        "requestId": "r1",
        "toolCall": {"toolCallId": "c1"},
        "options": [
            {"optionId": "no", "name": "Reject", "kind": "reject_once"},
            {"optionId": "yes", "name": "Allow", "kind": "allow_always"},
        ],
    }
    request = ev.from_sse(sse("agentSessionUpdate", "permission_request", data), responder)
    await request.allow()
    await request.reject()
    await request.answer(None)

    assert answers == [("r1", "yes"), ("r1", "no"), ("r1", None)]
    assert request.title == "c1", "a tool call without a title is named by its id"


def test_json_lines_carry_the_id_and_the_data_as_sent():
    event = ev.from_sse(sse("agentSessionUpdate", "plan", {"entries": []}))
    assert json.loads(ev.to_json(event)) == {
        "id": 9,
        "sessionId": "s1",
        "subType": "plan",
        "data": {"entries": []},
        "timestamp": "t",
    }


def test_a_clones_progress_and_end_have_their_fields():
    progress = ev.from_sse(
        sse(
            "agentSessionUpdate",
            "git_clone",
            {"phase": "receiving objects", "percent": 45, "received_bytes": 9},
        )
    )
    counting = ev.from_sse(
        sse("agentSessionUpdate", "git_clone", {"phase": "enumerating objects", "percent": None})
    )
    end = ev.from_sse(
        sse("agentSessionUpdate", "git_clone_end", {"commit": "0123456789abcdef", "ref": "main"})
    )

    assert isinstance(progress, ev.GitClone) and not progress.terminal
    assert (progress.phase, progress.percent, progress.received_bytes) == ("receiving objects", 45, 9)
    assert counting.percent is None and counting.received_bytes is None
    assert isinstance(end, ev.GitCloneEnd) and (end.commit, end.ref) == ("0123456789abcdef", "main")
