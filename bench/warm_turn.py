"""A warm turn (the project's container and agent already running): the first event through the gateway
(HTTP /chat, then SSE) against straight gRPC Chat + SubscribeProgress to the same runner and agent
process, alternating: what the gateway adds to every turn. The straight turns use a session of their
own, since the gateway keeps the log of the sessions it started."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import grpc

from appliance import chat_request
from appliance.config import Config
from appliance.projects import ProjectRef
from bench.measure import Figure, ms, read_to_end, summary
from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import RUNNER_PORT
from rcoder_wire.bodies import ChatFields
from tests.stack import Appliance, agent_containers


async def direct_turn(stub: agent_pb2_grpc.AgentServiceStub, project: str, session: str) -> tuple[float, str]:
    """Seconds from Chat to the first event of the new turn, straight to the runner; and its session."""
    # The request the gateway would send (the same agent command, so the same agent process serves both).
    prompt = ChatFields(prompt="hello", session_id=session or None)
    request = chat_request.build(Config(), prompt, ProjectRef(project), session, None)
    started = time.perf_counter()
    reply = await stub.Chat(request)
    first = None
    async for _ in stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=reply.session_id)):
        if first is None:
            first = time.perf_counter() - started
    assert first is not None
    return first, reply.session_id


class Wire:
    """A bare HTTP/1.1 client on kept-alive connections to the gateway, so that what is measured is the
    gateway and not the client (httpx costs ~1 ms a request here; the gRPC side has grpc's C core)."""

    def __init__(self, url: str, api_key: str) -> None:
        self._host, _, port = url.removeprefix("http://").partition(":")
        self._port = int(port)
        self._api_key = api_key
        self._connections: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def _send(self, use: str, head: str, body: bytes = b"") -> tuple[asyncio.StreamReader, bytes]:
        """Send a request on the connection kept for `use`; its reader, and the reply's head."""
        if use not in self._connections:
            self._connections[use] = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._connections[use]
        length = f"Content-Length: {len(body)}\r\n" if body else ""  # (Sanic waits for a GET's body)
        writer.write(
            f"{head}\r\nHost: {self._host}\r\nx-api-key: {self._api_key}\r\n{length}\r\n".encode() + body
        )
        reply = (await reader.readuntil(b"\r\n\r\n")).lower()
        if not reply.startswith(b"http/1.1 200"):
            raise RuntimeError(f"{head}: {reply.splitlines()[0].decode()}")
        return reader, reply

    async def chat(self, body: dict) -> None:
        """POST /chat, and read its reply (Sanic gives its length)."""
        head = "POST /chat HTTP/1.1\r\nContent-Type: application/json"
        reader, reply = await self._send("chat", head, json.dumps(body).encode())
        length = int(reply.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)

    async def turn(self, project: str, session: str) -> float:
        """Seconds from sending the prompt to the turn's first event on the session's stream."""
        started = time.perf_counter()
        await self.chat({"prompt": "hello", "project_id": project, "session_id": session})
        reader, _ = await self._send("progress", f"GET /agent/progress/{session} HTTP/1.1")
        await reader.readuntil(b"data:")
        seconds = time.perf_counter() - started
        await reader.readuntil(b"\r\n0\r\n\r\n")  # the chunked stream's end, after the turn's end
        return seconds

    async def close(self) -> None:
        for _, writer in self._connections.values():
            writer.close()


async def alternate(appliance: Appliance, ip: str, project: str, session: str, n: int) -> tuple[list, list]:
    via_gateway, direct = [], []
    wire = Wire(appliance.gateway_url, appliance.api_key)
    async with grpc.aio.insecure_channel(f"{ip}:{RUNNER_PORT}") as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)
        _, own_session = await direct_turn(stub, project, "")
        try:
            for _ in range(n):
                via_gateway.append(await wire.turn(project, session))
                direct.append((await direct_turn(stub, project, own_session))[0])
        finally:
            await wire.close()
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
