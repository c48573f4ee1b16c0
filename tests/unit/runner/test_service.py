"""The runner's gRPC service with the real demo agent as a subprocess, on a real server."""

from __future__ import annotations

import asyncio
import json
import shutil

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import PROMPT_START, SESSION_UPDATE
from tests.unit.runner.conftest import collect, git


async def test_health_reports_serving(runner):
    _, channel, _ = runner
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_chat_streams_a_whole_turn_and_writes_the_file(runner):
    stub, _, workspace = runner
    reply = await stub.Chat(
        agent_pb2.ChatRequest(project_id="p1", prompt="create hello.txt", request_id="r1")
    )
    assert reply.success and reply.session_id

    events = await collect(stub, reply.session_id)

    kinds = [e.sub_type for e in events]
    assert kinds[0] == "prompt_start" and kinds[-1] == "end_turn"
    assert {"plan", "agent_thought_chunk", "agent_message_chunk", "tool_call", "tool_call_update"} <= set(
        kinds
    )
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert all(e.request_id == "r1" for e in events)
    completed = [json.loads(e.payload) for e in events if e.sub_type == "tool_call_update"]
    assert completed[-1]["status"] == "completed"
    assert (workspace / "hello.txt").read_text() == "Hello from the RCoder demo agent!\n"


async def test_resuming_after_a_sequence_gives_exactly_the_rest(runner):
    stub, _, _ = runner
    reply = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="create a.txt"))
    everything = await collect(stub, reply.session_id)

    rest = await collect(stub, reply.session_id, after=5)

    assert [e.sequence for e in rest] == [e.sequence for e in everything[5:]]


async def test_a_second_turn_continues_the_numbering(runner):
    stub, _, _ = runner
    first = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="hello"))
    turn1 = await collect(stub, first.session_id)
    second = await stub.Chat(
        agent_pb2.ChatRequest(project_id="p1", session_id=first.session_id, prompt="again")
    )

    turn2 = await collect(stub, second.session_id)

    assert second.session_id == first.session_id
    assert turn2[0].sub_type == "prompt_start" and turn2[0].sequence == turn1[-1].sequence + 1
    # Someone who saw all of turn 1 and the session is idle: nothing more to send.
    assert await collect(stub, first.session_id, after=turn2[-1].sequence) == []


async def test_cancel_ends_the_turn_with_cancelled(runner):
    stub, _, _ = runner
    reply = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="wait 30"))
    status = await stub.GetStatus(agent_pb2.GetStatusRequest(project_id="p1"))
    assert status.status == "busy"

    await stub.CancelSession(agent_pb2.CancelRequest(project_id="p1", session_id=reply.session_id))
    events = await asyncio.wait_for(collect(stub, reply.session_id), 5)

    assert events[-1].sub_type == "cancelled"
    assert json.loads(events[-1].payload)["reason"] == "Cancelled"
    status = await stub.GetStatus(agent_pb2.GetStatusRequest(project_id="p1"))
    assert status.status == "idle"


async def test_a_busy_session_refuses_a_second_prompt(runner):
    stub, _, _ = runner
    reply = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="wait 30"))

    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Chat(agent_pb2.ChatRequest(project_id="p1", session_id=reply.session_id, prompt="more"))

    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_bad_requests_are_refused_with_clear_codes(runner):
    stub, _, _ = runner
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="  "))
    with pytest.raises(grpc.aio.AioRpcError) as unknown_agent:
        config = agent_pb2.ChatAgentConfig(agent_server=agent_pb2.ChatAgentServerConfig(agent_id="nope"))
        await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="hi", agent_config=config))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await collect(stub, "no-such-session")

    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert unknown_agent.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stop_agent_ends_the_running_turn(runner):
    stub, _, _ = runner
    reply = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="wait 30"))
    stream = aiter(stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=reply.session_id)))
    assert (await anext(stream)).sub_type == "prompt_start", "the turn is running"

    stopped = await stub.StopAgent(agent_pb2.StopAgentRequest(project_id="p1", force=True))
    events = [event async for event in stream]

    assert stopped.result == "stopped"
    assert events[-1].sub_type == "cancelled"
    status = await stub.GetStatus(agent_pb2.GetStatusRequest(project_id="p1"))
    assert (status.status, status.is_found) == ("idle", False), "a stopped agent is not found"
    again = await stub.StopAgent(agent_pb2.StopAgentRequest(project_id="p1"))
    assert again.result == "already_stopped"


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        ((), "project_id must be 1-64 letters, digits, '_', '.' or '-'"),
        ((("accept-language", "zh-CN"),), "project_id 必须是 1-64 个字母、数字、'_'、'.' 或 '-'"),
        ((("accept-language", "fr, zh-TW;q=0.5"),), "project_id 必須是 1-64 個字母、數字、'_'、'.' 或 '-'"),
    ],
)
async def test_an_error_detail_is_worded_in_the_callers_language(runner, metadata, detail):
    stub, _, _ = runner
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Chat(agent_pb2.ChatRequest(project_id="not an id", prompt="hi"), metadata=metadata)

    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == detail


async def test_a_turns_end_is_worded_in_the_language_of_the_chat_that_started_it(runner):
    stub, _, _ = runner
    chinese = (("accept-language", "zh-CN"),)
    reply = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="wait 30"), metadata=chinese)
    stream = aiter(stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=reply.session_id)))
    start, update = await anext(stream), await anext(stream)
    assert (start.message_type, update.message_type) == (PROMPT_START, SESSION_UPDATE), "the agent works"

    cancelled = await stub.CancelSession(
        agent_pb2.CancelRequest(project_id="p1", session_id=reply.session_id)
    )
    events = await asyncio.wait_for(collect(stub, reply.session_id), 5)

    assert cancelled.message == "the turn was cancelled", "the reply is in the cancelling call's language"
    assert json.loads(events[-1].payload)["description"] == "该轮次已取消。"


async def test_configure_git_writes_the_config_every_git_here_reads(runner, git_config):
    stub, _, _ = runner
    access = agent_pb2.GitAccess(
        broker_base="http://10.0.0.1:8090/rcoder-git/",
        stand_in="rcoder-git-o.abc",
        routes=[
            agent_pb2.GitRoute(
                prefix="https://github.com/", broker_url="http://10.0.0.1:8090/rcoder-git/https/github.com/"
            )
        ],
        author_name="RCoder",
        author_email="rcoder@example.com",
    )

    first = await stub.ConfigureGit(access)
    again = await stub.ConfigureGit(access)

    assert first.path == again.path == str(git_config)
    rewritten = git(
        git_config.parent, "ls-remote", "--get-url", "https://github.com/acme/app.git", system=True
    )
    assert rewritten == "http://10.0.0.1:8090/rcoder-git/https/github.com/acme/app.git"
    assert git(git_config.parent, "config", "--system", "user.name", system=True) == "RCoder"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ConfigureGit(agent_pb2.GitAccess(author_name="RCoder\n[core]"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RCoder" in git_config.read_text(), "a refused access leaves the last one in place"


def texts(events: list[agent_pb2.ProgressEvent], sub_type: str) -> list[dict]:
    return [json.loads(e.payload) for e in events if e.sub_type == sub_type]


async def test_a_repository_is_cloned_in_the_turn_before_the_agent_which_commits_and_pushes(
    runner, origin, tmp_path_factory
):
    stub, _, workspace = runner
    remote = tmp_path_factory.mktemp("remote") / "app.git"
    shutil.copytree(origin.path, remote)
    await stub.ConfigureGit(agent_pb2.GitAccess(author_name="RCoder", author_email="rcoder@example.com"))

    reply = await stub.Chat(
        agent_pb2.ChatRequest(
            project_id="p1",
            prompt='create notes.txt and commit "add notes" and push rcoder/feature',
            repository=agent_pb2.Repository(url=remote.as_uri()),
        )
    )
    events = await asyncio.wait_for(collect(stub, reply.session_id), 20)

    kinds = [e.sub_type for e in events]
    assert kinds[0] == "prompt_start" and kinds[-1] == "end_turn"
    clone_end = kinds.index("git_clone_end")
    assert set(kinds[1:clone_end]) == {"git_clone"}, "the clone's progress comes first"
    assert "plan" not in kinds[:clone_end], "the agent starts after the clone"
    assert texts(events, "git_clone_end") == [{"commit": origin.second, "ref": "main"}]
    pushed = git(remote, "log", "-1", "--format=%s by %an", "rcoder/feature")
    assert pushed == "add notes by RCoder"
    assert git(remote, "rev-parse", "rcoder/feature~1") == origin.second
    assert git(workspace, "rev-parse", "refs/rcoder/base") == origin.second

    # feature went its own way: git refuses, and the agent says so.
    second = await stub.Chat(
        agent_pb2.ChatRequest(project_id="p1", session_id=reply.session_id, prompt="push feature")
    )
    events = await asyncio.wait_for(collect(stub, second.session_id), 20)
    [failed] = [u for u in texts(events, "tool_call_update") if u["status"] == "failed"]
    assert "[rejected]" in failed["content"][0]["content"]["text"]
    assert git(remote, "rev-parse", "feature") == origin.feature


async def test_a_ref_the_repository_lacks_ends_the_turn_with_an_error_and_an_empty_folder(runner, origin):
    stub, _, workspace = runner
    (workspace / "lost+found").mkdir()

    reply = await stub.Chat(
        agent_pb2.ChatRequest(
            project_id="p1",
            prompt="create a.txt",
            repository=agent_pb2.Repository(url=origin.url, ref="nope"),
        )
    )
    events = await asyncio.wait_for(collect(stub, reply.session_id), 20)

    assert [e.sub_type for e in events] == ["prompt_start", "error"]
    assert (
        texts(events, "error")[0]["message"]
        == "the repository could not be cloned: couldn't find remote ref nope"
    )
    assert sorted(p.name for p in workspace.iterdir()) == ["lost+found"]
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.Chat(
            agent_pb2.ChatRequest(
                project_id="p1", prompt="hi", repository=agent_pb2.Repository(url=origin.url, ref="-x")
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_open_terminals_count_as_the_containers_tasks_so_the_cleanup_spares_it(tmp_path):
    from runner.projects import Projects
    from runner.server import create_server

    open_terminals = [2]
    server, port, _ = await create_server(
        "127.0.0.1:0", Projects(tmp_path), other_tasks=lambda: open_terminals[0]
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = agent_pb2_grpc.AgentServiceStub(channel)
            busy = await stub.GetContainerStatus(agent_pb2.GetContainerStatusRequest())
            open_terminals[0] = 0
            idle = await stub.GetContainerStatus(agent_pb2.GetContainerStatusRequest())
    finally:
        await server.stop(grace=None)
    assert (busy.active_tasks, idle.active_tasks) == (2, 0)
