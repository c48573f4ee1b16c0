"""appliance/models.py: request bodies are checked before they reach Docker or a runner."""

from __future__ import annotations

import pytest

from appliance.containers.limits import MIN_CPUS, MIN_MEMORY, Bounds
from appliance.engines.engine import Capacity
from appliance.errors import BadRequest
from appliance.http.bodies import ChatBody, check_id, parse
from appliance.projects import Pod


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
            "unknown_field": "ignored: a field this version does not know",
        },
    )
    request = body.to_proto()
    assert body.pod("demo-1") is None
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
        ({"prompt": "hi", "pod_id": "pod1"}, "pod_id needs tenant_id, space_id, isolation_type as well"),
        (
            {"prompt": "hi", "pod_id": "pod1", "tenant_id": "t", "space_id": "s"},
            "pod_id needs isolation_type",
        ),
        (
            {"prompt": "hi", "pod_id": "../x", "tenant_id": "t", "space_id": "s", "isolation_type": "space"},
            "pod_id",
        ),
        (
            {"prompt": "hi", "pod_id": "p", "tenant_id": "t", "space_id": "s", "isolation_type": "user"},
            "isolation",
        ),
    ],
)
def test_bad_fields_are_named(body, field):
    with pytest.raises(BadRequest, match=field):
        parse(ChatBody, body)


WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())


@pytest.mark.parametrize("prompt", [" ", WHITESPACE, "\x1c\x85\u3000"])
def test_a_prompt_of_only_whitespace_is_refused_by_the_document(prompt):
    """Fuzzing found the runner refusing blank prompts the document admitted (a 400 for a schema-valid
    body); blank is what str.strip() removes, which `\\s` in the schema's regex engines is not."""
    with pytest.raises(BadRequest, match="prompt"):
        parse(ChatBody, {"prompt": prompt})


@pytest.mark.parametrize("text", ["x", "\u200b", "\x00", "é"])
def test_a_prompt_with_any_other_character_is_accepted(text):
    assert parse(ChatBody, {"prompt": WHITESPACE + text + WHITESPACE}).prompt.strip() == text


def test_a_pod_places_the_project_in_a_folder_by_tenant_and_space():
    pod = {"pod_id": "pod1", "tenant_id": "acme", "space_id": "web", "isolation_type": "space"}
    body = parse(ChatBody, {"prompt": "hi", **pod})
    assert body.pod("p1") == Pod("pod1", "acme/web/p1")


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(BadRequest, match="JSON object"):
        parse(ChatBody, ["prompt"])


def test_check_id_accepts_safe_ids():
    assert check_id("Demo_1.a-b") == "Demo_1.a-b"


def test_an_id_with_a_trailing_newline_is_refused():
    with pytest.raises(BadRequest, match="project_id"):
        check_id("demo\n")


def text_attachment(data: str) -> dict:
    source = {"source_type": "Base64", "data": {"data": data, "mime_type": "text/plain"}}
    return {"type": "Text", "content": {"id": "a", "source": source}}


@pytest.mark.parametrize("data", ["déjà", "aGk", "aGk=\n", "not base64!"])
def test_attachment_data_that_is_not_base64_is_refused_naming_the_field(data):
    """Non-ASCII data once reached the runner and came back as a 500."""
    with pytest.raises(BadRequest, match=r"attachments\.0\.content\.source\.Base64\.data\.data"):
        parse(ChatBody, {"prompt": "hi", "attachments": [text_attachment(data)]})


def test_base64_attachment_data_is_accepted():
    body = parse(ChatBody, {"prompt": "hi", "attachments": [text_attachment("aGk="), text_attachment("")]})
    assert body.to_proto().attachments[0].text.source.base64.data == "aGk="


def file_attachment(path: str) -> dict:
    return {
        "type": "Document",
        "content": {"id": "a", "source": {"source_type": "FilePath", "data": {"path": path}}},
    }


@pytest.mark.parametrize("path", ["/etc/passwd", "..", "../x", "a/../../b", "a//b", "x\x00y"])
def test_a_file_attachment_outside_the_workspace_is_refused_by_the_document(path):
    """Fuzzing found the runner refusing paths the document admitted (a 400 for a schema-valid body)."""
    with pytest.raises(BadRequest, match=r"attachments\.0\.content\.source\.FilePath\.data\.path"):
        parse(ChatBody, {"prompt": "hi", "attachments": [file_attachment(path)]})


@pytest.mark.parametrize("path", ["notes.md", "src/main.py", ".env", "..hidden", "./a", "docs/"])
def test_a_file_attachment_inside_the_workspace_is_accepted(path):
    body = parse(ChatBody, {"prompt": "hi", "attachments": [file_attachment(path)]})
    assert body.to_proto().attachments[0].document.source.file_path == path


def limits(**values) -> dict:
    return {"prompt": "hi", "agent_config": {"resource_limits": values}}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cpu_limit": 31}, "cpu_limit 31 is more than this host's 2 CPUs"),
        ({"memory_limit": 8 * 1024**3}, "memory_limit 8589934592 is more than this host's 4294967296 bytes"),
    ],
)
def test_limits_beyond_the_host_are_refused_naming_the_field_and_the_host(values, message):
    """Within the seed's bounds, but more than this host has: a 400, never the engine's 503."""
    bounds = Bounds()
    bounds.fit(Capacity(cpus=2, memory_bytes=4 * 1024**3))
    with pytest.raises(BadRequest, match=rf"agent_config\.resource_limits: .*{message}"):
        parse(ChatBody, limits(**values), bounds)
    assert parse(ChatBody, limits(**values)).limits() is not None, "the seed's bounds alone admit it"
    assert parse(ChatBody, limits(cpu_limit=2, memory_limit=4 * 1024**3), bounds).limits() is not None


def test_a_host_smaller_than_the_seeds_minimum_still_admits_the_minimum():
    bounds = Bounds()
    bounds.fit(Capacity(cpus=0.25, memory_bytes=256 * 1024**2))
    assert (bounds.cpus, bounds.memory_bytes) == (MIN_CPUS, MIN_MEMORY)
