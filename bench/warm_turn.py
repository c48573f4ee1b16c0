"""A warm turn (the project's container and agent already running): the first event through the gateway
(HTTP /chat, then SSE) against straight gRPC Chat + SubscribeProgress to the same runner and agent
process, alternating: what the gateway adds to every turn. The straight turns use a session of their
own, since the gateway keeps the log of the sessions it started."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import httpx

from appliance import chat_request
from appliance.config import Config
from bench.measure import Figure, first_event, ms, read_to_end, summary
from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import RUNNER_PORT
from tests.stack import Appliance, agent_containers


async def direct_turn(stub: agent_pb2_grpc.AgentServiceStub, project: str, session: str) -> tuple[float, str]:
    """Seconds from Chat to the first event of the new turn, straight to the runner; and its session."""
    # The request the gateway would send (the same agent command, so the same agent process serves both).
    request = chat_request.complete(
        Config(), agent_pb2.ChatRequest(project_id=project, session_id=session, prompt="hello")
    )
    started = time.perf_counter()
    reply = await stub.Chat(request)
    first = None
    async for _ in stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=reply.session_id)):
        if first is None:
            first = time.perf_counter() - started
    assert first is not None
    return first, reply.session_id


def gateway_turn(client: httpx.Client, project: str, session: str) -> float:
    seconds, _ = first_event(
        client, "/chat", {"prompt": "hello", "project_id": project, "session_id": session}, "/agent/progress"
    )
    read_to_end(client, session)
    return seconds


async def alternate(appliance: Appliance, ip: str, project: str, session: str, n: int) -> tuple[list, list]:
    via_gateway, direct = [], []
    async with grpc.aio.insecure_channel(f"{ip}:{RUNNER_PORT}") as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        _, own_session = await direct_turn(stub, project, "")
        with httpx.Client(base_url=appliance.gateway_url, headers={"x-api-key": appliance.api_key}) as client:
            for _ in range(n):
                via_gateway.append(await asyncio.to_thread(gateway_turn, client, project, session))
                direct.append((await direct_turn(stub, project, own_session))[0])
    return via_gateway, direct


def run(appliance: Appliance, engine, n: int) -> Figure:
    project = f"w{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        reply = client.post("/chat", json={"prompt": "hello", "project_id": project}, timeout=180)
        session = reply.json()["data"]["session_id"]
        read_to_end(client, session)
    [container] = agent_containers(engine, appliance.stack, project)
    ip = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    via_gateway, direct = asyncio.run(alternate(appliance, ip, project, session, n))

    gateway, grpc_only = summary(via_gateway), summary(direct)
    figure = Figure("warm turn (first event)")
    figure.data = {"gateway": gateway, "direct_grpc": grpc_only}
    figure.data["added_ms"] = {q: (gateway[q] - grpc_only[q]) * 1000 for q in ("p50", "p95", "p99")}
    figure.row("straight gRPC p50 / p99", f"{ms(grpc_only['p50'])} / {ms(grpc_only['p99'])}")
    figure.row("through the gateway p50 / p99", f"{ms(gateway['p50'])} / {ms(gateway['p99'])}")
    added = figure.data["added_ms"]
    figure.row("the gateway adds p50 / p99", f"{added['p50']:.1f} ms / {added['p99']:.1f} ms")
    return figure
