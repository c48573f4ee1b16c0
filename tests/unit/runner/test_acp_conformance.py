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


async def test_a_turn_with_a_permission_request_speaks_acp(tmp_path, monkeypatch):
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
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
        AgentSpec("demo", sys.executable, ("-m", "runner.demo_agent")), tmp_path, on_update, on_permission
    )
    await agent.start()
    try:
        NewSessionRequest.model_validate({"cwd": str(tmp_path), "mcpServers": []})
        session = await agent.new_session([], {})
        blocks = [{"type": "text", "text": "create hello.txt"}]
        PromptRequest.model_validate({"sessionId": session, "prompt": blocks})
        stop = await agent.prompt(session, blocks)
    finally:
        await agent.close()

    assert stop == "end_turn" and (tmp_path / "hello.txt").exists()
    kinds = {notification.update.session_update for notification in updates}
    assert {"plan", "agent_thought_chunk", "agent_message_chunk", "tool_call", "tool_call_update"} <= kinds
    [(tool_call, options)] = permissions
    assert tool_call.kind == "edit" and [o.option_id for o in options] == ["allow", "reject"]
