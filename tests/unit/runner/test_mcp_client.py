"""runner/mcp_client.py against a real stdio MCP server (a small Python script written by the test),
alone and as the demo agent uses it through a real runner."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest

from rcoder_rpc import agent_pb2
from runner.mcp_client import McpError, result_text, started
from tests.unit.runner.conftest import collect

SERVER = textwrap.dedent(
    """
    import json, os, subprocess, sys, time

    initialized = False
    pages = {None: (["echo", "where"], "page-2"), "page-2": (["spawn", "ask", "slow"], None)}

    def send(message):
        sys.stdout.write(json.dumps(message) + "\\n")
        sys.stdout.flush()

    def result(message_id, value):
        send({"jsonrpc": "2.0", "id": message_id, "result": value})

    def text(value, error=False):
        return {"content": [{"type": "text", "text": value}], "isError": error}

    for line in sys.stdin:
        message = json.loads(line)
        method, params, message_id = message.get("method"), message.get("params") or {}, message.get("id")
        if method == "initialize":
            result(message_id, {"protocolVersion": params["protocolVersion"], "capabilities": {"tools": {}},
                                "serverInfo": {"name": "tiny", "version": "1"}})
        elif method == "notifications/initialized":
            initialized = True
        elif not initialized:
            send({"jsonrpc": "2.0", "id": message_id, "error": {"code": -32002, "message": "not initialized"}})
        elif method == "tools/list":
            names, cursor = pages[params.get("cursor")]
            page = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in names]}
            result(message_id, {**page, "nextCursor": cursor} if cursor else page)
        elif method == "tools/call" and params["name"] == "echo":
            result(message_id, text(params["arguments"]["say"]))
        elif method == "tools/call" and params["name"] == "where":
            result(message_id, text(f"{os.getcwd()} {os.environ['TINY_GREETING']}"))
        elif method == "tools/call" and params["name"] == "spawn":
            child = subprocess.Popen(["sleep", "300"])
            result(message_id, text(str(child.pid)))
        elif method == "tools/call" and params["name"] == "slow":
            time.sleep(30)
        elif method == "tools/call" and params["name"] == "ask":
            send({"jsonrpc": "2.0", "id": "s1", "method": "ping"})
            answer = json.loads(sys.stdin.readline())
            result(message_id, text(json.dumps(answer), error="error" in answer))
        elif method == "tools/call":
            send({"jsonrpc": "2.0", "id": message_id, "error": {"code": -32602, "message": "Unknown tool"}})
    """
)


@pytest.fixture
def tiny(tmp_path: Path) -> dict:
    script = tmp_path / "tiny_server.py"
    script.write_text(SERVER)
    env = [{"name": "TINY_GREETING", "value": "hello"}]
    return {"name": "tiny", "command": sys.executable, "args": [str(script)], "env": env}


async def test_the_handshake_comes_first_and_tools_are_listed_across_pages(tiny, tmp_path):
    async with started(tiny, tmp_path) as server:
        assert server.info == {"name": "tiny", "version": "1"}
        assert [tool["name"] for tool in await server.tools()] == ["echo", "where", "spawn", "ask", "slow"]


async def test_a_call_returns_the_tools_result_run_in_the_cwd_with_the_env_given(tiny, tmp_path):
    async with started(tiny, tmp_path) as server:
        echoed = await server.call("echo", {"say": "héllo"})
        where = await server.call("where", {})
    assert echoed == {"content": [{"type": "text", "text": "héllo"}], "isError": False}
    assert result_text(where) == f"{tmp_path} hello"


async def test_the_clients_answer_to_a_servers_ping_is_a_result(tiny, tmp_path):
    async with started(tiny, tmp_path) as server:
        answered = await server.call("ask", {})
    assert answered["isError"] is False and '"result": {}' in result_text(answered)


async def test_an_unknown_tool_is_an_mcp_error_naming_the_server(tiny, tmp_path):
    async with started(tiny, tmp_path) as server:
        with pytest.raises(McpError, match="'tiny' refused tools/call: Unknown tool"):
            await server.call("nothing", {})


async def test_a_server_that_cannot_start_or_exits_at_once_is_an_mcp_error(tiny, tmp_path):
    missing = {**tiny, "command": str(tmp_path / "no-such-server")}
    with pytest.raises(McpError, match="cannot start MCP server 'tiny'"):
        async with started(missing, tmp_path):
            pass
    exits = {**tiny, "args": ["-c", "pass"]}
    with pytest.raises(McpError, match="'tiny' did not initialize"):
        async with started(exits, tmp_path):
            pass


async def test_leaving_stops_the_servers_whole_process_group(tiny, tmp_path):
    async with started(tiny, tmp_path) as server:
        child = int(result_text(await server.call("spawn", {})))
        assert running(child)
    await asyncio.sleep(0.1)
    assert not running(child)


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie (an orphan waits for whoever adopts it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_result_text_joins_text_blocks_and_names_the_others():
    result = {"content": [{"type": "text", "text": "a"}, {"type": "image", "data": "..."}]}
    assert result_text(result) == "a\n[image]"


async def test_the_demo_agent_lists_a_sessions_mcp_tools_and_calls_them_through_the_runner(runner, tiny):
    """The client as the demo agent uses it: `mcp tools` and `mcp call`, reported as tool calls."""
    stub, _, workspace = runner
    request = agent_pb2.ChatRequest(
        project_id="p1", prompt='mcp tools, then mcp call tiny echo {"say": "a b"} and mcp call tiny where'
    )
    server = request.agent_config.context_servers["tiny"]
    server.command, server.enabled = tiny["command"], True
    server.args.extend(tiny["args"])
    server.env["TINY_GREETING"] = "hi"
    reply = await stub.Chat(request)

    events = await collect(stub, reply.session_id)

    assert events[-1].sub_type == "end_turn"
    updates = [json.loads(e.payload) for e in events if e.sub_type == "tool_call_update"]
    finished = [u["content"][0]["content"]["text"] for u in updates if u["status"] == "completed"]
    assert finished == ["tiny: echo, where, spawn, ask, slow", "a b", f"{workspace} hi"]
    text = "".join(
        json.loads(e.payload)["content"]["text"] for e in events if e.sub_type == "agent_message_chunk"
    )
    assert "tiny echo completed: a b" in text


async def test_the_demo_agent_reports_an_mcp_server_it_does_not_have(runner):
    stub, _, _ = runner
    reply = await stub.Chat(agent_pb2.ChatRequest(project_id="p1", prompt="mcp call nowhere fetch {}"))

    events = await collect(stub, reply.session_id)

    updates = [json.loads(e.payload) for e in events if e.sub_type == "tool_call_update"]
    assert updates[-1]["status"] == "failed"
    assert "no MCP server named 'nowhere'" in updates[-1]["content"][0]["content"]["text"]


async def test_cancelling_the_turn_stops_a_call_in_progress_and_the_server(runner, tiny):
    stub, _, _ = runner
    request = agent_pb2.ChatRequest(project_id="p1", prompt="mcp call tiny spawn then mcp call tiny slow")
    server = request.agent_config.context_servers["tiny"]
    server.command, server.enabled = tiny["command"], True
    server.args.extend(tiny["args"])
    reply = await stub.Chat(request)
    updates = stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=reply.session_id))
    child = 0
    async for event in updates:
        update = json.loads(event.payload)
        if event.sub_type == "tool_call_update" and update["status"] == "completed":
            child = int(update["content"][0]["content"]["text"])
        if event.sub_type == "tool_call_update" and update["status"] == "in_progress" and child:
            break
    updates.cancel()

    await stub.CancelSession(agent_pb2.CancelRequest(project_id="p1", session_id=reply.session_id))
    events = await asyncio.wait_for(collect(stub, reply.session_id), 10)

    assert events[-1].sub_type == "cancelled"
    # Stopped with the turn; on a loaded machine the signal may take a moment to land.
    for _ in range(50):
        if not running(child):
            break
        await asyncio.sleep(0.1)
    assert not running(child), "the server's process group was stopped with the turn"
