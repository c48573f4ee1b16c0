"""A small MCP client over stdio: starts a server as an ACP session's `mcpServers` entry describes it
(name, command, args, env), does the MCP handshake, lists its tools and calls them.

MCP's stdio transport is newline-delimited JSON-RPC, as ACP's is, so runner/jsonrpc.py carries it.
The demo agent uses this to try a session's MCP servers without a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from runner.agent_process import stop_group
from runner.jsonrpc import LINE_LIMIT, METHOD_NOT_FOUND, Connection, RpcError

PROTOCOL_VERSION = "2025-06-18"
CLIENT_INFO = {"name": "rcoder-mcp-client", "version": "0.1.0"}
INITIALIZE_TIMEOUT = 60.0
CALL_TIMEOUT = 120.0


class McpError(Exception):
    """An MCP server could not be started, or did not answer; the message names the server."""


class McpServer:
    """A started MCP server: its tools, and calls of them."""

    def __init__(self, name: str, connection: Connection, info: dict[str, Any]) -> None:
        self.name = name
        self.info = info
        self._connection = connection

    async def tools(self) -> list[dict[str, Any]]:
        """Every tool the server offers (name, description, inputSchema), page after page."""
        tools: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            page = await self._request("tools/list", params) or {}
            tools += page.get("tools") or []
            if not (cursor := page.get("nextCursor")):
                return tools
            params = {"cursor": cursor}

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The tool's result as MCP has it: `content` blocks, and `isError` when the tool failed."""
        return await self._request("tools/call", {"name": tool, "arguments": arguments}) or {}

    async def _request(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await asyncio.wait_for(self._connection.request(method, params), CALL_TIMEOUT)
        except RpcError as exc:
            raise McpError(f"MCP server {self.name!r} refused {method}: {exc.message}") from exc
        except (TimeoutError, ConnectionError) as exc:
            raise McpError(
                f"MCP server {self.name!r} did not answer {method}: {str(exc) or 'timed out'}"
            ) from exc


def result_text(result: dict[str, Any]) -> str:
    """The text blocks of a tool's result, one after the other (other blocks by their type)."""
    parts = []
    for block in result.get("content") or []:
        parts.append(block.get("text", "") if block.get("type") == "text" else f"[{block.get('type')}]")
    return "\n".join(parts)


@contextlib.asynccontextmanager
async def started(server: dict[str, Any], cwd: Path) -> AsyncIterator[McpServer]:
    """The server started in its own process group and initialized; the whole group is stopped on exit."""
    name = server.get("name", "?")
    if not server.get("command"):
        raise McpError(f"MCP server {name!r} is not a stdio server (no command)")
    env = {**os.environ, **{item["name"]: item["value"] for item in server.get("env") or []}}
    try:
        process = await asyncio.create_subprocess_exec(
            server["command"],
            *server.get("args") or [],
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # inherited: the server's log lands beside the agent's
            cwd=cwd,
            env=env,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
    except OSError as exc:
        raise McpError(f"cannot start MCP server {name!r} ({server['command']}): {exc}") from exc
    assert process.stdin is not None and process.stdout is not None
    connection = Connection(process.stdout, process.stdin, _answer, _ignore)
    try:
        yield McpServer(name, connection, await _initialize(name, connection))
    finally:
        await connection.close()
        await stop_group(process)


async def _initialize(name: str, connection: Connection) -> dict[str, Any]:
    """The MCP handshake: `initialize`, then `notifications/initialized`; the server's `serverInfo`."""
    params = {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO}
    try:
        reply = await asyncio.wait_for(connection.request("initialize", params), INITIALIZE_TIMEOUT)
        await connection.notify("notifications/initialized", {})
    except (TimeoutError, ConnectionError, RpcError) as exc:
        raise McpError(f"MCP server {name!r} did not initialize: {str(exc) or 'timed out'}") from exc
    return (reply or {}).get("serverInfo") or {}


async def _answer(method: str, params: dict[str, Any]) -> Any:
    """Requests from the server: a ping is answered; this client offers nothing else (no roots, no sampling)."""
    if method == "ping":
        return {}
    raise RpcError(METHOD_NOT_FOUND, f"the client does not offer {method}")


async def _ignore(method: str, params: dict[str, Any]) -> None:
    """Notifications from the server (log messages, progress, list changes) are not used."""
