"""appliance/engine.py: Docker's errors become the appliance's, once, here."""

from __future__ import annotations

import pytest

from appliance.engine import Engine, _parse_time
from appliance.errors import EngineUnavailable


async def test_an_engine_that_does_not_answer_is_unavailable_503():
    engine = Engine("tcp://127.0.0.1:9", api_timeout=2)
    try:
        with pytest.raises(EngineUnavailable) as error:
            await engine.ping()
    finally:
        await engine.close()
    assert error.value.status_code == 503 and "not reachable" in error.value.message


def test_docker_times_with_nanoseconds_are_read():
    parsed = _parse_time("2026-11-24T04:00:06.480952123Z")
    assert parsed.isoformat() == "2026-11-24T04:00:06+00:00"
    assert _parse_time("") is None
