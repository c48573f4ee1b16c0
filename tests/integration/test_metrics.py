"""GET /metrics (Prometheus text, no API key, as in the seed) counts what a chat does, and names no
project; the seed's /proxy/status, /proxy/stats (no API key) and /proxy/config (the key; no secret)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all

pytestmark = pytest.mark.engine


def scrape(appliance) -> tuple[str, dict[tuple[str, tuple], float]]:
    """The metrics text, and each sample's value by (name, sorted labels)."""
    response = httpx.get(f"{appliance.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum over every series of `name` that has `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_the_metrics_count_a_chat_and_name_no_project(appliance, client):
    _, before = scrape(appliance)
    project = project_id()
    session = chat(client, project, "create hello.txt")["session_id"]
    events = read_all(client, session)
    text, after = scrape(appliance)

    chats = {"route": "/chat", "method": "POST", "status": "200"}
    assert (
        value(after, "rcoder_http_requests_total", **chats)
        >= value(before, "rcoder_http_requests_total", **chats) + 1
    )
    appended = value(after, "rcoder_events_appended_total") - value(before, "rcoder_events_appended_total")
    assert appended >= len(events), (appended, len(events))
    started = total(after, "rcoder_container_starts_total", kind="agent", outcome="started")
    assert started >= total(before, "rcoder_container_starts_total", kind="agent", outcome="started") + 1
    assert total(after, "rcoder_container_start_duration_seconds_count", kind="agent") >= 1
    assert value(after, "rcoder_containers", kind="agent", state="running") >= 1
    assert value(after, "rcoder_sse_streams_open") == 0
    assert value(after, "rcoder_active_turns") == 0
    assert total(after, "rcoder_http_request_duration_seconds_count", route="/chat") >= 1
    assert project not in text and session not in text, "no series is per project or session"


def test_the_proxy_routes_answer_as_the_seeds(appliance, client):
    anonymous = httpx.Client(base_url=appliance.url, timeout=10)
    status = anonymous.get("/proxy/status")
    assert status.status_code == 200
    assert status.json()["data"]["status"] == "running"

    stats = anonymous.get("/proxy/stats").json()["data"]
    assert stats["requests"] >= 2 and stats["active_connections"] >= 1
    assert set(stats) >= {"reading", "writing", "waiting", "kept_decisions", "decisions"}

    assert anonymous.get("/proxy/config").status_code == 401
    config = client.get("/proxy/config")
    assert config.status_code == 200
    assert config.json()["data"]["decision_keep_seconds"] == 2
    assert "/proxy/{port}/{path}" in config.json()["data"]["routes"]
    assert "secret" not in config.text and appliance.api_key not in config.text
