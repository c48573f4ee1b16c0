"""The gateway's runner client passes the client's language to the runners, on real servers: one
that records what each call carries, and a real runner that words its answer in it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from appliance import messages
from appliance.errors import BadRequest
from appliance.runner_client import RunnerClient
from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import LANGUAGE_METADATA
from runner.projects import Projects
from runner.server import create_server


class RecordingService(agent_pb2_grpc.AgentServiceServicer):
    """Answers every call with an empty reply and notes the language it asked for."""

    def __init__(self) -> None:
        self.languages: dict[str, str | None] = {}

    def _note(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.languages[method] = dict(context.invocation_metadata()).get(LANGUAGE_METADATA)

    async def Chat(self, request, context):
        self._note("Chat", context)
        return agent_pb2.ChatResponse()

    async def CancelSession(self, request, context):
        self._note("CancelSession", context)
        return agent_pb2.CancelResponse()

    async def RespondPermission(self, request, context):
        self._note("RespondPermission", context)
        return agent_pb2.PermissionAnswerReply()

    async def GetStatus(self, request, context):
        self._note("GetStatus", context)
        return agent_pb2.GetStatusResponse()

    async def StopAgent(self, request, context):
        self._note("StopAgent", context)
        return agent_pb2.StopAgentResponse()

    async def GetContainerStatus(self, request, context):
        self._note("GetContainerStatus", context)
        return agent_pb2.GetContainerStatusResponse()

    async def GetVncStatus(self, request, context):
        self._note("GetVncStatus", context)
        return agent_pb2.GetVncStatusResponse()

    async def SubscribeProgress(self, request, context) -> AsyncIterator[agent_pb2.ProgressEvent]:
        self._note("SubscribeProgress", context)
        return
        yield


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[RecordingService, str]]:
    service = RecordingService()
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield service, f"127.0.0.1:{port}"
    await server.stop(grace=None)


@pytest.fixture
def language(request) -> Iterator[str]:
    """The language of the request being answered, as the gateway's middleware sets it."""
    token = messages.current.set(request.param)
    yield request.param
    messages.current.reset(token)


async def call_everything(client: RunnerClient, address: str) -> None:
    await client.chat(address, agent_pb2.ChatRequest(project_id="p1", prompt="hi"))
    await client.cancel(address, "p1", "s1")
    await client.respond_permission(address, "s1", "r1", "allow")
    await client.status(address, "p1")
    await client.stop_agent(address, "p1")
    await client.container_status(address)
    await client.vnc_status(address)
    assert [event async for event in client.subscribe(address, "s1", 0)] == []


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("language", ["zh-TW", "en-US"], indirect=True)
async def test_every_call_carries_the_requests_language(recorder, language, traced):
    service, address = recorder
    client = RunnerClient(traced=traced)
    try:
        await call_everything(client, address)
    finally:
        await client.close()

    assert service.languages == {
        method: language
        for method in (
            "Chat",
            "CancelSession",
            "RespondPermission",
            "GetStatus",
            "StopAgent",
            "GetContainerStatus",
            "GetVncStatus",
            "SubscribeProgress",
        )
    }


async def test_a_call_outside_a_request_asks_for_the_default(recorder):
    service, address = recorder
    client = RunnerClient()
    try:
        await client.status(address, "p1")
    finally:
        await client.close()

    assert service.languages == {"GetStatus": "en-US"}


@pytest.mark.parametrize("language", ["zh-CN"], indirect=True)
async def test_a_runners_refusal_reads_in_the_requests_language(tmp_path, language):
    projects = Projects(tmp_path)
    server, port, _ = await create_server("127.0.0.1:0", projects)
    client = RunnerClient()
    try:
        with pytest.raises(BadRequest) as refused:
            await client.chat(f"127.0.0.1:{port}", agent_pb2.ChatRequest(project_id="not an id", prompt="hi"))
    finally:
        await client.close()
        await projects.close()
        await server.stop(grace=None)

    assert refused.value.localized() == (
        "智能体运行器返回：project_id 必须是 1-64 个字母、数字、'_'、'.' 或 '-'"  # noqa: RUF001
    )
