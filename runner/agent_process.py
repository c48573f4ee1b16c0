"""One ACP agent subprocess, and the client side of the protocol with it over stdio (runner/jsonrpc.py).

Messages stay JSON: what the agent reports is passed on to the gateway as it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from runner.agents import AgentSpec
from runner.errors import AgentFailed
from runner.jsonrpc import LINE_LIMIT, METHOD_NOT_FOUND, Connection, RpcError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
INITIALIZE_TIMEOUT = 60.0
STOP_GRACE = 2.0
# We read and write no files and run no terminals for the agent: it does that itself.
CLIENT_CAPABILITIES = {"fs": {"readTextFile": False, "writeTextFile": False}, "terminal": False}
CLIENT_INFO = {"name": "rcoder-runner", "version": "0.1.0"}

# session/update: (session id, the update as the agent sent it).
UpdateHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
# session/request_permission: (session id, tool call, options) → the outcome, as ACP's response has it.
PermissionHandler = Callable[[str, dict[str, Any], list[dict[str, Any]]], Awaitable[dict[str, Any]]]


class AgentProcess:
    """Starts an agent in its own process group, initializes ACP, and stops the whole group."""

    def __init__(
        self, spec: AgentSpec, cwd: Path, on_update: UpdateHandler, on_permission: PermissionHandler
    ) -> None:
        self.spec = spec
        self.cwd = cwd
        self.capabilities: dict[str, Any] = {}
        self._on_update = on_update
        self._on_permission = on_permission
        self._process: asyncio.subprocess.Process | None = None
        self._conn: Connection | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def loads_sessions(self) -> bool:
        return bool(self.capabilities.get("loadSession"))

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
                limit=LINE_LIMIT,
            )
        except OSError as exc:
            raise AgentFailed(
                "cannot start agent {agent!r} ({command}): {error}",
                agent=self.spec.id,
                command=self.spec.command,
                error=exc,
            ) from exc
        assert self._process.stdin is not None and self._process.stdout is not None
        self._conn = Connection(self._process.stdout, self._process.stdin, self._answer, self._notified)
        initialize = {
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": CLIENT_CAPABILITIES,
            "clientInfo": CLIENT_INFO,
        }
        try:
            reply = await asyncio.wait_for(self._conn.request("initialize", initialize), INITIALIZE_TIMEOUT)
        except (TimeoutError, ConnectionError, RpcError) as exc:
            await self.close()
            reason = str(exc) or type(exc).__name__
            raise AgentFailed(
                "agent {agent!r} did not initialize: {reason}", agent=self.spec.id, reason=reason
            ) from exc
        self.capabilities = (reply or {}).get("agentCapabilities") or {}
        log.info("agent %s started (pid %s)", self.spec.id, self._process.pid)

    async def _notified(self, method: str, params: dict[str, Any]) -> None:
        if method == "session/update":
            await self._on_update(params.get("sessionId", ""), params.get("update") or {})

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "session/request_permission":
            outcome = await self._on_permission(
                params.get("sessionId", ""), params.get("toolCall") or {}, params.get("options") or []
            )
            return {"outcome": outcome}
        raise RpcError(METHOD_NOT_FOUND, f"the client does not offer {method}")

    @property
    def conn(self) -> Connection:
        if self._conn is None or not self.alive:
            raise AgentFailed("agent {agent!r} is not running", agent=self.spec.id)
        return self._conn

    async def new_session(self, mcp_servers: list[dict[str, Any]], meta: dict[str, Any]) -> str:
        params: dict[str, Any] = {"cwd": str(self.cwd), "mcpServers": mcp_servers}
        if meta:
            params["_meta"] = meta
        reply = await self.conn.request("session/new", params)
        return reply["sessionId"]

    async def load_session(self, session_id: str, mcp_servers: list[dict[str, Any]]) -> None:
        params = {"cwd": str(self.cwd), "sessionId": session_id, "mcpServers": mcp_servers}
        await self.conn.request("session/load", params)

    async def prompt(self, session_id: str, blocks: list[dict[str, Any]]) -> str:
        """Run a prompt turn; the agent's stop reason."""
        reply = await self.conn.request("session/prompt", {"sessionId": session_id, "prompt": blocks})
        return (reply or {}).get("stopReason", "end_turn")

    async def cancel(self, session_id: str) -> None:
        await self.conn.notify("session/cancel", {"sessionId": session_id})

    async def close(self) -> None:
        """Close the connection and stop the agent's whole process group."""
        if self._conn is not None:
            await self._conn.close()
        process = self._process
        if process is None or process.returncode is not None:
            return
        await stop_group(process)
        log.info("agent %s stopped (exit %s)", self.spec.id, process.returncode)


async def stop_group(process: asyncio.subprocess.Process) -> None:
    """Stop a process started in a group of its own, with the whole group: SIGTERM, then, after a
    grace period, SIGKILL for whatever is left (children that ignored SIGTERM)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), STOP_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
