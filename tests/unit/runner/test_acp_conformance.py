"""What the runner and the demo agent say to each other is ACP: every message of a whole turn (with a
permission request) checked against the ACP SDK's schema models, which the runner no longer imports."""

from __future__ import annotations

import sys

from acp.schema import (
    InitializeRequest,
    NewSessionRequest,
    PermissionOption,
    PromptRequest,
    SessionNotification,
    ToolCallUpdate,
)

from runner.agent_process import CLIENT_CAPABILITIES, CLIENT_INFO, PROTOCOL_VERSION, AgentProcess
from runner.agents import AgentSpec
from tests.unit.runner.conftest import git


async def demo_turn(cwd, text: str) -> tuple[str, list[SessionNotification], list]:
    """One turn of the demo agent in `cwd`: its stop reason, its updates and its permission requests,
    every message checked against the schema."""
    updates, permissions = [], []

    async def on_update(session_id, update):
        updates.append(SessionNotification.model_validate({"sessionId": session_id, "update": update}))

    async def on_permission(session_id, tool_call, options):
        permissions.append(
            (ToolCallUpdate.model_validate(tool_call), [PermissionOption.model_validate(o) for o in options])
        )
        return {"outcome": "selected", "optionId": "allow"}

    InitializeRequest.model_validate(
        {
            "protocolVersion": PROTOCOL_VERSION,
            "clientCapabilities": CLIENT_CAPABILITIES,
            "clientInfo": CLIENT_INFO,
        }
    )
    agent = AgentProcess(
        AgentSpec("demo", sys.executable, ("-m", "runner.demo_agent")), cwd, on_update, on_permission
    )
    await agent.start()
    try:
        NewSessionRequest.model_validate({"cwd": str(cwd), "mcpServers": []})
        session = await agent.new_session([], {})
        blocks = [{"type": "text", "text": text}]
        PromptRequest.model_validate({"sessionId": session, "prompt": blocks})
        stop = await agent.prompt(session, blocks)
    finally:
        await agent.close()
    return stop, updates, permissions


async def test_a_turn_with_a_permission_request_speaks_acp(tmp_path, monkeypatch):
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    stop, updates, permissions = await demo_turn(tmp_path, "create hello.txt")

    assert stop == "end_turn" and (tmp_path / "hello.txt").exists()
    kinds = {notification.update.session_update for notification in updates}
    assert {"plan", "agent_thought_chunk", "agent_message_chunk", "tool_call", "tool_call_update"} <= kinds
    [(tool_call, options)] = permissions
    assert tool_call.kind == "edit" and [o.option_id for o in options] == ["allow", "reject"]


async def test_a_commit_is_an_execute_tool_call_in_acp(tmp_path, monkeypatch):
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    for name in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(name, "Test")
    for name in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(name, "test@example.com")
    git(tmp_path, "init", "-q")

    stop, updates, permissions = await demo_turn(tmp_path, 'create a.txt and commit "add a"')

    assert stop == "end_turn" and git(tmp_path, "log", "-1", "--format=%s") == "add a"
    [_, (tool_call, _)] = permissions
    assert tool_call.kind == "execute"
    [done] = [
        n.update
        for n in updates
        if n.update.session_update == "tool_call_update"
        and n.update.tool_call_id == tool_call.tool_call_id
        and n.update.status == "completed"
    ]
    assert git(tmp_path, "rev-parse", "--short", "HEAD") in done.content[0].content.text
