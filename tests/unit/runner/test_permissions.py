"""Permission policies with the demo agent's write tool: allow, deny, ask (answered, timed out, cancelled)."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from rcoder_rpc import agent_pb2
from tests.unit.runner.conftest import collect


def chat(policy: str, prompt: str = "create perm.txt", timeout: int = 0) -> agent_pb2.ChatRequest:
    return agent_pb2.ChatRequest(
        project_id="p1", prompt=prompt, permission_policy=policy, permission_timeout_seconds=timeout
    )


async def first(stub, session_id: str, sub_type: str) -> agent_pb2.ProgressEvent:
    async for event in stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=session_id)):
        if event.sub_type == sub_type:
            return event
    raise AssertionError(f"no {sub_type} event")


async def test_deny_refuses_the_tool_call(runner):
    stub, _, workspace = runner
    reply = await stub.Chat(chat("deny"))
    events = await collect(stub, reply.session_id)
    assert events[-1].sub_type == "end_turn"
    assert not (workspace / "perm.txt").exists()
    assert (
        json.loads([e for e in events if e.sub_type == "tool_call_update"][-1].payload)["status"] == "failed"
    )


async def test_ask_surfaces_the_request_and_waits_for_the_answer(runner):
    stub, _, workspace = runner
    reply = await stub.Chat(chat("ask"))
    request = json.loads((await first(stub, reply.session_id, "permission_request")).payload)
    assert {o["optionId"] for o in request["options"]} == {"allow", "reject"}
    assert request["toolCall"]["title"] == "Write perm.txt"
    assert not (workspace / "perm.txt").exists(), "nothing happens before the answer"

    await stub.RespondPermission(
        agent_pb2.PermissionAnswer(
            session_id=reply.session_id, request_id=request["requestId"], option_id="allow"
        )
    )
    events = await collect(stub, reply.session_id)

    assert events[-1].sub_type == "end_turn"
    resolved = json.loads(next(e for e in events if e.sub_type == "permission_resolved").payload)
    assert resolved == {"requestId": request["requestId"], "how": "answered", "optionId": "allow"}
    assert (workspace / "perm.txt").exists()


async def test_an_unanswered_request_is_denied_when_its_time_is_up(runner):
    stub, _, workspace = runner
    reply = await stub.Chat(chat("ask", timeout=1))
    events = await asyncio.wait_for(collect(stub, reply.session_id), 10)
    resolved = json.loads(next(e for e in events if e.sub_type == "permission_resolved").payload)
    assert resolved["how"] == "timed_out" and resolved["optionId"] == "reject"
    assert not (workspace / "perm.txt").exists()


async def test_cancel_answers_a_pending_request_cancelled(runner):
    stub, _, workspace = runner
    reply = await stub.Chat(chat("ask"))
    await first(stub, reply.session_id, "permission_request")

    await stub.CancelSession(agent_pb2.CancelRequest(project_id="p1", session_id=reply.session_id))
    events = await asyncio.wait_for(collect(stub, reply.session_id), 5)

    assert events[-1].sub_type == "cancelled"
    assert not (workspace / "perm.txt").exists()


async def test_bad_answers_are_refused(runner):
    stub, _, _ = runner
    reply = await stub.Chat(chat("ask"))
    request = json.loads((await first(stub, reply.session_id, "permission_request")).payload)

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stub.RespondPermission(
            agent_pb2.PermissionAnswer(session_id=reply.session_id, request_id="nope")
        )
    with pytest.raises(grpc.aio.AioRpcError) as bad_option:
        await stub.RespondPermission(
            agent_pb2.PermissionAnswer(
                session_id=reply.session_id, request_id=request["requestId"], option_id="sudo"
            )
        )
    with pytest.raises(grpc.aio.AioRpcError) as bad_policy:
        await stub.Chat(chat("maybe", prompt="hi"))

    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert bad_option.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_policy.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await stub.CancelSession(agent_pb2.CancelRequest(project_id="p1", session_id=reply.session_id))
