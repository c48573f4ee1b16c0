"""rcoder-runner: the in-container gRPC server that drives the project's ACP agents; with --files, a
files container's server instead (the files API, and only health and status over gRPC)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import (
    DEFAULT_AGENT_ID,
    FILES_PORT,
    PRESTARTED_SERVICE,
    RUNNER_PORT,
    TERMINAL_PORT,
    server_options,
)
from rcoder_rpc.logs import setup_logging
from runner import git_access, prompt
from runner.agents import BUILTIN_AGENTS
from runner.errors import AgentFailed
from runner.projects import Projects
from runner.service import AgentService
from runner.terminal import TerminalLimits, serve_terminals

if TYPE_CHECKING:
    from runner.files.server import FilesServer

log = logging.getLogger("rcoder.runner")

SERVICE_NAME = agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


async def create_server(
    address: str,
    projects: Projects,
    default_agent_id: str = DEFAULT_AGENT_ID,
    agent_homes: Path | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    other_tasks: Callable[[], int] = lambda: 0,
    git_config: Path = git_access.DEFAULT_PATH,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A started server on `address` ("host:0" picks a free port), and its health servicer;
    `other_tasks` counts what keeps the container busy beside turns (open terminals); `git_config` is
    the system git config that ConfigureGit writes."""
    homes = agent_homes or Path(tempfile.gettempdir()) / "rcoder-agents"
    service = AgentService(projects, default_agent_id, homes, other_tasks, git_config)
    return await start_server(address, service, interceptors)


async def start_server(
    address: str,
    servicer: agent_pb2_grpc.AgentServiceServicer,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """`servicer` and the health service, started on `address`, SERVING."""
    server = grpc.aio.server(options=server_options(), interceptors=list(interceptors))
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


class FilesStatus(agent_pb2_grpc.AgentServiceServicer):
    """A files container's AgentService: it runs no agent, so it answers GetContainerStatus alone
    (the rest is UNIMPLEMENTED), counting the files requests in flight as its active tasks, so that
    the gateway's cleanup spares a container that streams a download."""

    def __init__(self, in_flight: Callable[[], int]) -> None:
        self.in_flight = in_flight
        self.started = time.monotonic()

    async def GetContainerStatus(
        self, request: agent_pb2.GetContainerStatusRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetContainerStatusResponse:
        active = self.in_flight()
        return agent_pb2.GetContainerStatusResponse(
            is_active=active > 0,
            active_tasks=active,
            uptime_seconds=int(time.monotonic() - self.started),
            status="Processing" if active else "Idle",
        )


def tracing(otlp_endpoint: str | None) -> tuple[object, list[grpc.aio.ServerInterceptor]]:
    """The tracer and interceptors when traces are exported; else none, and OpenTelemetry (0.2 s of
    imports on every container start) is not loaded at all."""
    if not otlp_endpoint:
        return None, []
    from opentelemetry import trace

    from rcoder_rpc.tracing import server_interceptor, setup_tracing

    setup_tracing("rcoder-runner", otlp_endpoint)
    return trace.get_tracer("rcoder.runner"), [server_interceptor()]


async def prestart(
    projects: Projects, template: str, default_agent_id: str, homes: Path, health: health.aio.HealthServicer
) -> None:
    """Start the agent that the first chat will most likely want (the gateway's default, described by
    a ChatRequest in JSON), so that chat finds it running; say on the health service when it is up."""
    request = json_format.Parse(template, agent_pb2.ChatRequest())
    spec = prompt.agent_spec(request, default_agent_id, homes)
    starting = projects.prestart(spec, prompt.agent_key(spec, request))
    status = health_pb2.HealthCheckResponse.NOT_SERVING
    if starting is not None:
        try:
            await starting
            status = health_pb2.HealthCheckResponse.SERVING
        except AgentFailed as exc:
            log.warning("the agent started at boot failed: %s", exc)
    await health.set(PRESTARTED_SERVICE, status)


async def serve(args: argparse.Namespace) -> None:
    if args.files:
        await serve_files(args)
        return
    workspace = Path(args.workspace)
    if not os.access(workspace, os.W_OK):
        raise SystemExit(f"rcoder-runner: workspace {workspace} is missing or not writable")
    tracer, interceptors = tracing(args.otlp_endpoint)
    # Whatever this runner starts (agents, clones, terminal shells) reads the git config it writes.
    os.environ["GIT_CONFIG_SYSTEM"] = args.git_config
    projects = Projects(workspace, per_project_dirs=args.per_project_dirs, tracer=tracer)
    homes = Path(args.agent_homes)
    terminals = await serve_terminals(
        args.host, TERMINAL_PORT, workspace, args.per_project_dirs, TerminalLimits.from_environ(os.environ)
    )
    server, port, health_servicer = await create_server(
        f"{args.host}:{args.port}",
        projects,
        args.agent,
        homes,
        interceptors,
        lambda: terminals.active,
        Path(args.git_config),
    )
    log.info("serving on %s:%s, workspace %s, default agent %s", args.host, port, workspace, args.agent)
    # What start-up made (modules, gRPC) lives as long as the process: out of the collector's sight, so
    # that its first full collection does not hold a turn's events up for a tenth of a second.
    gc.freeze()
    prestarting = None
    if args.prestart:
        prestarting = asyncio.create_task(
            prestart(projects, args.prestart, args.agent, homes, health_servicer)
        )

    await stopped()
    log.info("shutting down")
    if prestarting is not None:
        prestarting.cancel()
    await health_servicer.enter_graceful_shutdown()
    await terminals.close()
    await projects.close()
    await server.stop(grace=5)


async def stopped() -> None:
    """Return once the process is asked to stop (SIGTERM or SIGINT)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()


async def start_files(
    args: argparse.Namespace,
) -> tuple[FilesServer, grpc.aio.Server, int, health.aio.HealthServicer]:
    """`--files`: the files HTTP API over `--root`/`--folder` on `--files-port`, served by a thread,
    and beside it the gRPC health and status that the gateway starts and watches containers with
    (the files server is imported only in this mode: an agent's runner does not load it)."""
    from runner.files import server as files_server

    limits = files_server.limits_from(os.environ)
    files, _ = files_server.create_server((args.host, args.files_port), args.root, args.folder, limits)
    threading.Thread(target=files.serve_forever, name="rcoder-files", daemon=True).start()
    try:
        server, port, health_servicer = await start_server(
            f"{args.host}:{args.port}", FilesStatus(files.in_flight)
        )
    except BaseException:
        files.shutdown()
        files.server_close()
        raise
    return files, server, port, health_servicer


async def serve_files(args: argparse.Namespace) -> None:
    files, server, port, health_servicer = await start_files(args)
    log.info(
        "serving files of %s (folder %r) on %s:%s, status on port %s",
        args.root,
        args.folder,
        args.host,
        files.server_address[1],
        port,
    )
    idle = float(os.environ.get("RCODER_FILES_IDLE_SECONDS", "0"))
    leaving = asyncio.create_task(left_idle(files, idle)) if idle > 0 else None
    await asyncio.wait(
        [asyncio.create_task(stopped()), *([leaving] if leaving else [])], return_when=asyncio.FIRST_COMPLETED
    )
    log.info("shutting down")
    await health_servicer.enter_graceful_shutdown()
    await asyncio.to_thread(files.shutdown)
    files.server_close()
    await server.stop(grace=5)


async def left_idle(files: FilesServer, seconds: float) -> None:
    """Return once the files server has answered nothing for `seconds`: the container then stops, and
    the gateway removes it (a files container lives while it is used)."""
    while True:
        idle = files.idle_seconds()
        if idle >= seconds:
            break
        await asyncio.sleep(max(seconds - idle, 1.0))
    log.info("no files request for %.0f s: leaving", seconds)


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
        "--prestart",
        default=os.environ.get("RCODER_PRESTART_AGENT", ""),
        help="a ChatRequest in JSON naming the agent to start before any chat (default: $RCODER_PRESTART_AGENT)",
    )
    parser.add_argument(
        "--git-config",
        default=os.environ.get("GIT_CONFIG_SYSTEM") or str(git_access.DEFAULT_PATH),
        help="the system git config ConfigureGit writes, which every git here reads "
        "(default: $GIT_CONFIG_SYSTEM or %(default)s)",
    )
    parser.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        help="export traces with OTLP to this endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT)",
    )
    files = parser.add_argument_group("files container", "serve a workspace's files instead of agents")
    files.add_argument("--files", action="store_true", help="serve the files API; start no agent")
    files.add_argument("--root", help="the mounted volume (or host folder) whose files are served")
    files.add_argument(
        "--folder",
        default="",
        help="the root's folder beneath --root (a project of a pod, a desktop user's project), "
        "reached through no link (default: --root itself)",
    )
    files.add_argument(
        "--files-port", type=int, default=FILES_PORT, help="the files API's port (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.files and not args.root:
        parser.error("--files needs --root")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging("INFO")
    asyncio.run(serve(args))
