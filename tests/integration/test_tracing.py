"""One trace follows a chat from the HTTP request through gRPC into the runner and the agent's turn.

The gateway and the runner run in this process, so that one in-memory exporter sees the spans
of both sides. Only the container is left out: the engine is a fake whose containers all "run" at
a loopback address, where the test's runner listens on the runners' port.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sanic import Sanic

from appliance.config_loader import load_config
from appliance.gateway import Gateway
from appliance.http.app import create_app
from rcoder_rpc.contract import RUNNER_PORT
from rcoder_rpc.logs import JsonLogFormatter
from rcoder_rpc.tracing import server_interceptor
from runner.projects import Projects
from runner.server import create_server
from tests.fakes.engine import RUNNER_IP, FakeEngine
from tests.stack import free_port


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_gateway_and_runner_spans_share_one_trace(tmp_path, spans, monkeypatch):
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    projects = Projects(tmp_path / "workspace", tracer=trace.get_tracer("rcoder.runner"))
    (tmp_path / "workspace").mkdir()
    runner, _, _ = await create_server(
        f"{RUNNER_IP}:{RUNNER_PORT}", projects, interceptors=[server_interceptor()]
    )
    config = load_config(
        {
            "state_dir": str(tmp_path / "state"),
            "engine_config.stack": f"trace{uuid.uuid4().hex[:6]}",
            "engine_config.host_firewall": "false",
            # Spans are exported (here, to the in-memory exporter above): the trace goes into the runner.
            "otlp_endpoint": "http://127.0.0.1:4317",
            # This process's interpreter runs the demo agent (the image has it on PATH).
            "agents.demo.command": sys.executable,
            "agents.demo.args": ["-m", "runner.demo_agent"],
        },
        environ={},
    )
    Sanic.test_mode = True
    app = create_app(Gateway.build(config, FakeEngine()), name=f"trace{uuid.uuid4().hex}")
    server = await app.create_server(host="127.0.0.1", port=free_port(), return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    http_port = server.server.sockets[0].getsockname()[1]
    spans.clear()
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    handler.setFormatter(JsonLogFormatter())
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:
            reply = await client.post("/chat", json={"prompt": "hello", "project_id": "traced"})
            async with client.stream(
                "GET", f"/agent/progress/{reply.json()['data']['session_id']}"
            ) as stream:
                async for _ in stream.aiter_lines():
                    pass
    finally:
        logging.getLogger().removeHandler(handler)
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        await projects.close()
        await runner.stop(grace=None)

    tid = reply.json()["tid"]
    finished = spans.get_finished_spans()
    chat_trace = [s for s in finished if format(s.context.trace_id, "032x") == tid]
    names = {s.name for s in chat_trace}
    assert "POST /chat" in names, names
    assert "/agent.AgentService/Chat" in names, "the gRPC client and server spans joined the trace"
    assert "agent.turn" in names, "the runner's turn joined the trace"
    services = {s.instrumentation_scope.name for s in chat_trace}
    assert "rcoder.gateway" in services and "rcoder.runner" in services
    server_span = next(
        s for s in chat_trace if s.name == "/agent.AgentService/Chat" and s.kind.name == "SERVER"
    )
    client_span = next(
        s for s in chat_trace if s.name == "/agent.AgentService/Chat" and s.kind.name == "CLIENT"
    )
    assert server_span.parent.span_id == client_span.context.span_id

    # The gateway's log lines are JSON, and those written while serving the chat carry its trace id.
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    queued = next(line for line in lines if line["message"].startswith("chat queued"))
    assert queued["trace_id"] == tid and queued["logger"] == "appliance.turns"
