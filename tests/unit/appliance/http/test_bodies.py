"""appliance/models.py: request bodies are checked before they reach Docker or a runner."""

from __future__ import annotations

import pytest

from appliance.errors import BadRequest
from appliance.http.bodies import ChatBody, check_id, parse


@pytest.mark.parametrize("project_id", ["../x", "a b", "-lead", "x" * 65, "名前", ""])
def test_project_ids_unsafe_as_container_names_are_refused(project_id):
    with pytest.raises(BadRequest, match="project_id"):
        parse(ChatBody, {"prompt": "hi", "project_id": project_id})


def test_a_valid_chat_becomes_the_runners_request():
    body = parse(
        ChatBody,
        {
            "prompt": "hi",
            "project_id": "demo-1",
            "request_id": "r1",
            "model_provider": {"id": "p1", "api_key": "k", "api_protocol": "anthropic", "default_model": "m"},
            "agent_config": {"context_servers": {"fs": {"command": "mcp-fs", "args": ["--root", "."]}}},
            "tenant_id": "ignored: a seed field this version does not use",
        },
    )
    request = body.to_proto()
    assert (request.prompt, request.request_id, request.session_id) == ("hi", "r1", "")
    assert request.agent_config.context_servers["fs"].command == "mcp-fs"
    assert request.model_config.api_protocol == "anthropic" and request.model_config.model == "m"
    assert body.agent_config.context_servers["fs"].args == ["--root", "."]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project_id": "p"}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "hi", "model_provider": {"id": "p", "api_protocol": "grpc"}}, "api_protocol"),
    ],
)
def test_bad_fields_are_named(body, field):
    with pytest.raises(BadRequest, match=field):
        parse(ChatBody, body)


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(BadRequest, match="JSON object"):
        parse(ChatBody, ["prompt"])


def test_check_id_accepts_safe_ids():
    assert check_id("Demo_1.a-b") == "Demo_1.a-b"
