"""A real runner on a local port, driving the real demo agent as a subprocess."""

from __future__ import annotations

import grpc
import pytest

from rcoder_rpc import agent_pb2, agent_pb2_grpc
from runner.projects import Projects
from runner.server import create_server


@pytest.fixture
async def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    projects = Projects(tmp_path)
    server, port, _ = await create_server("127.0.0.1:0", projects)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield agent_pb2_grpc.AgentServiceStub(channel), channel, tmp_path
    await channel.close()
    await projects.close()
    await server.stop(grace=None)


async def collect(stub, session_id: str, after: int = 0) -> list[agent_pb2.ProgressEvent]:
    call = stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=session_id, after_sequence=after))
    return [event async for event in call]
