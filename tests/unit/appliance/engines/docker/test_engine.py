"""appliance/engines/docker/: Docker's errors and JSON become the appliance's, once, here."""

from __future__ import annotations

import pytest

from appliance.engines.docker import DockerEngine
from appliance.engines.docker.events import gone
from appliance.engines.docker_sdk import parse_time
from appliance.errors import EngineUnavailable


async def test_an_engine_that_does_not_answer_is_unavailable_503():
    engine = DockerEngine("tcp://127.0.0.1:9", api_timeout=2)
    try:
        with pytest.raises(EngineUnavailable) as error:
            await engine.ping()
    finally:
        await engine.close()
    assert error.value.status_code == 503 and "not reachable" in error.value.message


def test_docker_times_with_nanoseconds_are_read():
    parsed = parse_time("2026-11-24T04:00:06.480952123Z")
    assert parsed.isoformat() == "2026-11-24T04:00:06+00:00"
    assert parse_time("") is None


def test_an_event_becomes_what_happened_to_which_container():
    event = {
        "id": "c0ffee",
        "Action": "die",
        "Actor": {"Attributes": {"rcoder.project": "p1", "exitCode": "137", "name": "x"}},
    }
    what = gone(event)
    assert (what.container_id, what.action, what.exit_code) == ("c0ffee", "die", 137)
    assert what.labels == {"rcoder.project": "p1"} and what.name == "x"
    assert what.describe() == "die with exit code 137"
    assert gone({"id": "c", "Action": "destroy", "Actor": {"Attributes": {}}}).describe() == "destroy"
