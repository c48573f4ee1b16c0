"""rcoder_wire/bodies.py: request bodies are checked before they reach an engine or a runner, by the
gateway and by the client alike."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rcoder_wire.bodies import ChatBody, InvalidBody, check_id, parse


@pytest.mark.parametrize("project_id", ["../x", "a b", "-lead", "x" * 65, "名前", ""])
def test_project_ids_unsafe_as_container_names_are_refused(project_id):
    with pytest.raises(InvalidBody, match="project_id"):
        parse(ChatBody, {"prompt": "hi", "project_id": project_id})


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
    with pytest.raises(InvalidBody, match=field):
        parse(ChatBody, body)


def test_a_refusal_carries_its_template_and_the_gateways_status():
    with pytest.raises(InvalidBody) as refused:
        parse(ChatBody, {"prompt": ""})
    assert refused.value.template == "invalid request: {problems}"
    assert refused.value.message == "invalid request: prompt: String should have at least 1 character"
    assert (refused.value.status_code, refused.value.code) == (400, "VALIDATION_ERROR")


WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())


@pytest.mark.parametrize("prompt", [" ", WHITESPACE, "\x1c\x85\u3000"])
def test_a_prompt_of_only_whitespace_is_refused_by_the_document(prompt):
    """Fuzzing found the runner refusing blank prompts the document admitted (a 400 for a schema-valid
    body); blank is what str.strip() removes, which `\\s` in the schema's regex engines is not."""
    with pytest.raises(InvalidBody, match="prompt"):
        parse(ChatBody, {"prompt": prompt})


@pytest.mark.parametrize("text", ["x", "\u200b", "\x00", "é"])
def test_a_prompt_with_any_other_character_is_accepted(text):
    assert parse(ChatBody, {"prompt": WHITESPACE + text + WHITESPACE}).prompt.strip() == text


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidBody, match="JSON object"):
        parse(ChatBody, ["prompt"])


def test_check_id_accepts_safe_ids():
    assert check_id("Demo_1.a-b") == "Demo_1.a-b"


def test_an_id_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidBody, match="project_id"):
        check_id("demo\n")


def text_attachment(data: str) -> dict:
    source = {"source_type": "Base64", "data": {"data": data, "mime_type": "text/plain"}}
    return {"type": "Text", "content": {"id": "a", "source": source}}


@pytest.mark.parametrize("data", ["déjà", "aGk", "aGk=\n", "not base64!"])
def test_attachment_data_that_is_not_base64_is_refused_naming_the_field(data):
    """Non-ASCII data once reached the runner and came back as a 500."""
    with pytest.raises(InvalidBody, match=r"attachments\.0\.content\.source\.Base64\.data\.data"):
        parse(ChatBody, {"prompt": "hi", "attachments": [text_attachment(data)]})


def file_attachment(path: str) -> dict:
    return {
        "type": "Document",
        "content": {"id": "a", "source": {"source_type": "FilePath", "data": {"path": path}}},
    }


@pytest.mark.parametrize("path", ["/etc/passwd", "..", "../x", "a/../../b", "a//b", "x\x00y"])
def test_a_file_attachment_outside_the_workspace_is_refused_by_the_document(path):
    """Fuzzing found the runner refusing paths the document admitted (a 400 for a schema-valid body)."""
    with pytest.raises(InvalidBody, match=r"attachments\.0\.content\.source\.FilePath\.data\.path"):
        parse(ChatBody, {"prompt": "hi", "attachments": [file_attachment(path)]})


@dataclass(frozen=True)
class Host:
    """What the gateway passes as `bounds`: any object with these two attributes."""

    cpus: float
    memory_bytes: int


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
    host = Host(cpus=2, memory_bytes=4 * 1024**3)
    with pytest.raises(InvalidBody, match=rf"agent_config\.resource_limits: .*{message}"):
        parse(ChatBody, limits(**values), host)
    assert parse(ChatBody, limits(**values)).agent_config.resource_limits, "the seed's bounds alone admit it"
