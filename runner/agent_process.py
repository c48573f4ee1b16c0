"""One ACP agent subprocess, and the client side of its JSON-RPC connection over stdio."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import acp
from acp.schema import (
    AgentCapabilities,
    ClientCapabilities,
    Implementation,
    PermissionOption,
    PromptResponse,
    RequestPermissionResponse,
)

from runner.agents import AgentSpec
from runner.errors import AgentFailed

log = logging.getLogger(__name__)

INITIALIZE_TIMEOUT = 60.0
STOP_GRACE = 2.0
STDIO_LIMIT = 50 * 1024 * 1024  # ACP messages carry attachments; asyncio's 64 KiB line limit is too small.

UpdateHandler = Callable[[str, Any], Awaitable[None]]
PermissionHandler = Callable[[str, Any, list[PermissionOption]], Awaitable[RequestPermissionResponse]]


class ClientCallbacks:
    """What the agent may ask of us (acp.interfaces.Client): updates and permission requests."""

    def __init__(self, on_update: UpdateHandler, on_permission: PermissionHandler) -> None:
        self._on_update = on_update
        self._on_permission = on_permission

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        # The update is numbered before anything is awaited: updates keep the order they arrived in.
        await self._on_update(session_id, update)

    async def request_permission(
        self, session_id: str, tool_call: Any, options: list[PermissionOption], **_: Any
    ) -> RequestPermissionResponse:
        return await self._on_permission(session_id, tool_call, options)


class AgentProcess:
    """Starts an agent in its own process group, initializes ACP, and stops the whole group."""

    def __init__(
        self, spec: AgentSpec, cwd: Path, on_update: UpdateHandler, on_permission: PermissionHandler
    ) -> None:
        self.spec = spec
        self.cwd = cwd
        self.capabilities = AgentCapabilities()
        self._callbacks = ClientCallbacks(on_update, on_permission)
        self._process: asyncio.subprocess.Process | None = None
        self._conn: acp.ClientSideConnection | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        env = {**os.environ, **self.spec.env}
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.spec.command,
                *self.spec.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,  # inherited: the agent's stderr lands in the container's log
                cwd=self.cwd,
                env=env,
                start_new_session=True,
                limit=STDIO_LIMIT,
            )
        except OSError as exc:
            raise AgentFailed(f"cannot start agent {self.spec.id!r} ({self.spec.command}): {exc}") from exc
        assert self._process.stdin is not None and self._process.stdout is not None
        self._conn = acp.connect_to_agent(self._callbacks, self._process.stdin, self._process.stdout)
        try:
            response = await asyncio.wait_for(
                self._conn.initialize(
                    protocol_version=acp.PROTOCOL_VERSION,
                    client_capabilities=ClientCapabilities(),
                    client_info=Implementation(name="rcoder-runner", version="0.1.0"),
                ),
                INITIALIZE_TIMEOUT,
            )
        except (TimeoutError, ConnectionError, acp.RequestError) as exc:
            await self.close()
            reason = str(exc) or type(exc).__name__
            raise AgentFailed(f"agent {self.spec.id!r} did not initialize: {reason}") from exc
        self.capabilities = response.agent_capabilities or AgentCapabilities()
        log.info("agent %s started (pid %s)", self.spec.id, self._process.pid)

    @property
    def conn(self) -> acp.ClientSideConnection:
        if self._conn is None or not self.alive:
            raise AgentFailed(f"agent {self.spec.id!r} is not running")
        return self._conn

    async def new_session(self, mcp_servers: list[Any], meta: dict[str, Any]) -> str:
        response = await self.conn.new_session(cwd=str(self.cwd), mcp_servers=mcp_servers, **meta)
        return response.session_id

    async def load_session(self, session_id: str, mcp_servers: list[Any]) -> None:
        await self.conn.load_session(cwd=str(self.cwd), session_id=session_id, mcp_servers=mcp_servers)

    async def prompt(self, session_id: str, blocks: list[Any]) -> PromptResponse:
        return await self.conn.prompt(session_id=session_id, prompt=blocks)

    async def cancel(self, session_id: str) -> None:
        await self.conn.cancel(session_id=session_id)

    async def close(self) -> None:
        """Close the connection and stop the agent's whole process group."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        # Whatever is left of the group (children that ignored SIGTERM) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        log.info("agent %s stopped (exit %s)", self.spec.id, process.returncode)
