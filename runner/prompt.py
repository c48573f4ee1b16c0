"""Translate a ChatRequest into ACP terms (JSON, as the protocol has it): content blocks, MCP servers,
the agent to run."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from rcoder_rpc import agent_pb2
from runner import providers
from runner.agents import AgentSpec, resolve_agent
from runner.errors import InvalidRequest

USER_PROMPT_PLACEHOLDER = "{user_prompt}"


def prompt_text(request: agent_pb2.ChatRequest) -> str:
    """The prompt, wrapped in the request's user_prompt template when it has one."""
    if not request.prompt.strip():
        raise InvalidRequest("prompt is empty")
    if request.HasField("user_prompt") and USER_PROMPT_PLACEHOLDER in request.user_prompt:
        return request.user_prompt.replace(USER_PROMPT_PLACEHOLDER, request.prompt)
    return request.prompt


def content_blocks(request: agent_pb2.ChatRequest, workspace: Path) -> list[dict[str, Any]]:
    """The prompt text, then one ACP content block per attachment."""
    return [{"type": "text", "text": prompt_text(request)}] + [
        attachment_block(a, workspace) for a in request.attachments
    ]


def link(name: str, uri: str, description: str) -> dict[str, Any]:
    block = {"type": "resource_link", "name": name, "uri": uri}
    return {**block, "description": description} if description else block


def utf8_text(name: str, data: str) -> str | None:
    """The text a base64 attachment holds; None when its bytes are not UTF-8 (the agent then gets
    them as a blob)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: not ASCII
        raise InvalidRequest("attachment {name!r} is not base64-encoded", name=name) from exc
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def attachment_block(attachment: agent_pb2.Attachment, workspace: Path) -> dict[str, Any]:
    """Base64 images and audio become image/audio blocks, base64 text and documents embedded
    resources, files in the workspace and URLs resource links."""
    kind = attachment.WhichOneof("attachment")
    item = getattr(attachment, kind)
    name = item.filename or item.id or kind
    source = item.source
    which = source.WhichOneof("source")
    if which == "base64":
        data, mime = source.base64.data, source.base64.mime_type
        if kind == "image":
            return {"type": "image", "data": data, "mimeType": item.mime_type or mime}
        if kind == "audio":
            return {"type": "audio", "data": data, "mimeType": mime}
        uri = f"attachment:///{name}"
        if kind == "text" and (text := utf8_text(name, data)) is not None:
            return {"type": "resource", "resource": {"uri": uri, "text": text, "mimeType": mime}}
        return {"type": "resource", "resource": {"uri": uri, "blob": data, "mimeType": mime}}
    if which == "file_path":
        path = (workspace / source.file_path).resolve()
        if not path.is_relative_to(workspace.resolve()):
            raise InvalidRequest(
                "attachment {name!r}: {path} is outside the project's workspace",
                name=name,
                path=source.file_path,
            )
        return link(name, path.as_uri(), item.description)
    if which == "url":
        return link(name, source.url, item.description)
    raise InvalidRequest("attachment {name!r} has no source", name=name)


def session_meta(request: agent_pb2.ChatRequest) -> dict[str, Any]:
    """ACP `_meta` for session/new: the system prompt travels there, as the adapters expect."""
    if request.HasField("system_prompt") and request.system_prompt.strip():
        return {"systemPrompt": {"append": request.system_prompt}}
    return {}


def mcp_servers(request: agent_pb2.ChatRequest) -> list[dict[str, Any]]:
    """The request's enabled stdio context servers, as ACP MCP servers."""
    servers = []
    for name, server in sorted(request.agent_config.context_servers.items()):
        if not server.enabled or not server.HasField("command"):
            continue
        servers.append(
            {
                "name": name,
                "command": server.command,
                "args": list(server.args),
                "env": [{"name": k, "value": v} for k, v in sorted(server.env.items())],
            }
        )
    return servers


def agent_spec(request: agent_pb2.ChatRequest, default_agent_id: str, home: Path) -> AgentSpec:
    """The agent to run, pointed at the request's model provider, with a HOME of the project's own."""
    server = request.agent_config.agent_server if request.agent_config.HasField("agent_server") else None
    spec = resolve_agent(server, default_agent_id)
    provider = request.model_config if request.HasField("model_config") else None
    return providers.launch(spec, provider, home / f"{request.project_id}-{spec.id}")


def agent_key(spec: AgentSpec, request: agent_pb2.ChatRequest) -> str:
    """Identifies the agent process a request needs: another agent, command or provider id restarts it."""
    provider = request.model_config.id if request.HasField("model_config") else ""
    return json.dumps([spec.id, spec.command, spec.args, provider])
