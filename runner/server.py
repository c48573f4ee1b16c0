"""rcoder-runner: the in-container gRPC server that drives the project's ACP agents."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import tempfile
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import DEFAULT_AGENT_ID, RUNNER_PORT
from rcoder_rpc.tracing import server_interceptor, setup_logging, setup_tracing
from runner.agents import BUILTIN_AGENTS
from runner.projects import Projects
from runner.service import AgentService

log = logging.getLogger("rcoder.runner")

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name
# Keepalive tuned with the gateway's client side: pings every 20 s are accepted.
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 128 * 1024 * 1024),
    ("grpc.max_send_message_length", 128 * 1024 * 1024),
]


async def create_server(
    address: str,
    projects: Projects,
    default_agent_id: str = DEFAULT_AGENT_ID,
    agent_homes: Path | None = None,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A started server on `address` ("host:0" picks a free port), and its health servicer."""
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=[server_interceptor()])
    homes = agent_homes or Path(tempfile.gettempdir()) / "rcoder-agents"
    agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentService(projects, default_agent_id, homes), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


async def serve(args: argparse.Namespace) -> None:
    workspace = Path(args.workspace)
    if not os.access(workspace, os.W_OK):
        raise SystemExit(f"rcoder-runner: workspace {workspace} is missing or not writable")
    projects = Projects(workspace, per_project_dirs=args.per_project_dirs)
    server, port, health_servicer = await create_server(
        f"{args.host}:{args.port}", projects, args.agent, Path(args.agent_homes)
    )
    log.info("serving on %s:%s, workspace %s, default agent %s", args.host, port, workspace, args.agent)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down")
    await health_servicer.enter_graceful_shutdown()
    await projects.close()
    await server.stop(grace=5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rcoder-runner", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=RUNNER_PORT, help="gRPC port (default: %(default)s)")
    parser.add_argument(
        "--workspace",
        default=os.environ.get("RCODER_WORKSPACE", "/app/project_workspace"),
        help="the agents' working directory (default: $RCODER_WORKSPACE or %(default)s)",
    )
    parser.add_argument(
        "--per-project-dirs",
        action="store_true",
        help="give each project its own folder under the workspace (desktops shared by several projects)",
    )
    parser.add_argument(
        "--agent",
        default=os.environ.get("RCODER_DEFAULT_AGENT", DEFAULT_AGENT_ID),
        choices=sorted(BUILTIN_AGENTS),
        help="agent used when a request names none (default: %(default)s)",
    )
    parser.add_argument(
        "--agent-homes",
        default=os.path.join(os.environ.get("HOME", "/tmp"), "agents"),
        help="where each agent process gets a HOME of its own (default: $HOME/agents)",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        help="export traces with OTLP to this endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging("INFO")
    setup_tracing("rcoder-runner", args.otlp_endpoint)
    asyncio.run(serve(args))
