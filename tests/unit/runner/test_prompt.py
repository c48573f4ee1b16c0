"""runner/prompt.py: a ChatRequest in ACP terms: the prompt, its attachments (kept inside the
workspace), the system prompt and the MCP servers; each checked against the ACP SDK's schema."""

from __future__ import annotations

import base64

import pytest
from acp.schema import NewSessionRequest, PromptRequest

from rcoder_rpc import agent_pb2
from runner.errors import InvalidRequest
from runner.prompt import content_blocks, mcp_servers, prompt_text, session_meta


def attachment(kind: str, **source) -> agent_pb2.Attachment:
    item = {"id": "a1", "filename": "note", "source": agent_pb2.AttachmentSource(**source)}
    return agent_pb2.Attachment(**{kind: getattr(agent_pb2, f"{kind.capitalize()}Attachment")(**item)})


def base64_data(data: str, mime: str) -> agent_pb2.Base64Data:
    return agent_pb2.Base64Data(data=data, mime_type=mime)


def request(*attachments: agent_pb2.Attachment, **fields) -> agent_pb2.ChatRequest:
    return agent_pb2.ChatRequest(project_id="p1", prompt="look", attachments=attachments, **fields)


def test_the_prompt_fills_the_user_prompt_template_and_must_not_be_blank():
    assert prompt_text(request(user_prompt="Task: {user_prompt}!")) == "Task: look!"
    assert prompt_text(request(user_prompt="no placeholder")) == "look"
    with pytest.raises(InvalidRequest, match="empty"):
        prompt_text(agent_pb2.ChatRequest(prompt="  "))


def test_each_kind_of_attachment_becomes_its_acp_block(tmp_path):
    text = base64.b64encode("héllo".encode()).decode()
    blocks = content_blocks(
        request(
            attachment("image", base64=base64_data("iVBORw0=", "image/png")),
            attachment("text", base64=base64_data(text, "text/plain")),
            attachment("document", base64=base64_data("JVBERi0=", "application/pdf")),
            attachment("document", file_path="docs/spec.md"),
            attachment("audio", url="https://example.com/a.ogg"),
        ),
        tmp_path,
    )
    PromptRequest.model_validate({"sessionId": "s1", "prompt": blocks})  # what ACP admits
    kinds = [block["type"] for block in blocks]
    assert kinds == ["text", "image", "resource", "resource", "resource_link", "resource_link"]
    assert blocks[0]["text"] == "look"
    assert (blocks[1]["data"], blocks[1]["mimeType"]) == ("iVBORw0=", "image/png")
    assert blocks[2]["resource"]["text"] == "héllo"
    assert blocks[3]["resource"]["blob"] == "JVBERi0="
    assert blocks[4]["uri"] == (tmp_path / "docs" / "spec.md").as_uri()
    assert blocks[5]["uri"] == "https://example.com/a.ogg"


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "a/../../outside.txt"])
def test_a_file_attachment_outside_the_workspace_is_refused(tmp_path, path):
    with pytest.raises(InvalidRequest, match="outside the project's workspace"):
        content_blocks(request(attachment("document", file_path=path)), tmp_path / "ws")


def test_a_symlink_out_of_the_workspace_is_refused_too(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidRequest, match="outside the project's workspace"):
        content_blocks(request(attachment("document", file_path="link/secret")), workspace)


@pytest.mark.parametrize("data", ["not base64!", "déjà vu", "QQ"])
def test_text_that_is_not_base64_is_refused_naming_the_attachment(tmp_path, data):
    with pytest.raises(InvalidRequest, match="'note' is not base64-encoded"):
        content_blocks(request(attachment("text", base64=base64_data(data, "text/plain"))), tmp_path)


def test_text_whose_bytes_are_not_utf8_reaches_the_agent_as_a_blob(tmp_path):
    data = base64.b64encode(b"\xff\xfe binary").decode()
    *_, block = content_blocks(request(attachment("text", base64=base64_data(data, "text/plain"))), tmp_path)
    assert block["resource"] == {"uri": "attachment:///note", "blob": data, "mimeType": "text/plain"}


def test_the_system_prompt_and_enabled_stdio_mcp_servers_go_to_the_session():
    servers = {
        "on": agent_pb2.ChatContextServerConfig(enabled=True, command="mcp-on", args=["-x"], env={"A": "1"}),
        "off": agent_pb2.ChatContextServerConfig(command="mcp-off", enabled=False),
        "no-command": agent_pb2.ChatContextServerConfig(enabled=True),
    }
    chat = request(
        system_prompt="Be brief.",
        agent_config=agent_pb2.ChatAgentConfig(context_servers=servers),
    )
    [server] = mcp_servers(chat)
    NewSessionRequest.model_validate({"cwd": "/w", "mcpServers": [server], "_meta": session_meta(chat)})
    assert (server["name"], server["command"], server["args"]) == ("on", "mcp-on", ["-x"])
    assert server["env"] == [{"name": "A", "value": "1"}]
    assert session_meta(chat) == {"systemPrompt": {"append": "Be brief."}}
    assert session_meta(request(system_prompt="  ")) == {}
