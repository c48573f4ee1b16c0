"""appliance/http/bodies.py: a body the wire models refuse is a 400, and the lifecycle gets its limits
and pod from the body."""

from __future__ import annotations

import pytest

from appliance.containers.limits import Bounds, Limits
from appliance.engines.engine import Capacity
from appliance.errors import BadRequest
from appliance.http.bodies import chat_limits, check_id, parse, pod_of
from appliance.projects import Pod
from rcoder_wire.bodies import SESSION_ID_PATTERN, ChatBody
from rcoder_wire.contract import MIN_CPUS, MIN_MEMORY


def test_a_refused_body_is_a_bad_request_with_the_same_message():
    with pytest.raises(BadRequest) as refused:
        parse(ChatBody, {"prompt": ""})
    assert (refused.value.status_code, refused.value.code) == (400, "VALIDATION_ERROR")
    assert refused.value.template == "invalid request: {problems}"
    assert refused.value.message == "invalid request: prompt: String should have at least 1 character"


def test_a_refused_id_is_a_bad_request_naming_it():
    with pytest.raises(BadRequest, match="invalid session_id 'a b'"):
        check_id("a b", SESSION_ID_PATTERN, "session_id")


def test_a_pod_places_the_project_in_a_folder_by_tenant_and_space():
    pod = {"pod_id": "pod1", "tenant_id": "acme", "space_id": "web", "isolation_type": "space"}
    body = parse(ChatBody, {"prompt": "hi", **pod})
    assert pod_of(body, "p1") == Pod("pod1", "acme/web/p1")
    assert pod_of(parse(ChatBody, {"prompt": "hi"}), "p1") is None


def limits(**values) -> dict:
    return {"prompt": "hi", "agent_config": {"resource_limits": values}}


def test_limits_within_the_host_become_the_engines():
    bounds = Bounds()
    bounds.fit(Capacity(cpus=2, memory_bytes=4 * 1024**3))
    body = parse(ChatBody, limits(cpu_limit=2, memory_limit=4 * 1024**3, swap_limit=5 * 1024**3), bounds)
    assert chat_limits(body) == Limits(memory_bytes=4 * 1024**3, cpus=2, memory_swap_bytes=5 * 1024**3)
    assert chat_limits(parse(ChatBody, {"prompt": "hi"})) is None
    with pytest.raises(BadRequest, match="cpu_limit 31 is more than this host's 2 CPUs"):
        parse(ChatBody, limits(cpu_limit=31), bounds)


def test_a_host_smaller_than_the_seeds_minimum_still_admits_the_minimum():
    bounds = Bounds()
    bounds.fit(Capacity(cpus=0.25, memory_bytes=256 * 1024**2))
    assert (bounds.cpus, bounds.memory_bytes) == (MIN_CPUS, MIN_MEMORY)
