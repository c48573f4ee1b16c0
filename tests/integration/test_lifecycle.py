"""What survives and what is noticed: gateway restarts, killed containers, orphans, idle cleanup."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id, succeeds_within
from tests.integration.sse import read_across, read_all, stream
from tests.stack import agent_containers, image, run_appliance, wait_healthy

pytestmark = pytest.mark.engine


def test_a_gateway_restart_mid_turn_loses_nothing_and_keeps_the_container(appliance, engine, client):
    project = project_id()
    session = chat(client, project, "wait 6 then create after-restart.txt")["session_id"]
    [before] = agent_containers(engine, appliance.stack, project)

    events = read_across(client, session, lambda: appliance.restart_gateway(engine))

    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "every event exactly once, in order"
    assert events[-1].event == "end_turn"
    [after] = agent_containers(engine, appliance.stack, project)
    assert after.id == before.id, "the container was adopted, not recreated"
    assert [e.id for e in read_all(client, session)] == ids, "the whole turn still replays"


def kill_gateway(appliance, engine) -> None:
    gateway = appliance.gateway(engine)
    gateway.kill()  # SIGKILL: nothing is flushed, no stream is closed cleanly
    gateway.start()
    wait_healthy(appliance.url, appliance.services)


def test_a_gateway_killed_mid_turn_again_and_again_loses_nothing(appliance, engine, client):
    """kill -9 at a different point of each turn, the client reconnecting as soon as /health answers."""
    for attempt in range(5):
        project = project_id()
        session = chat(client, project, "wait 4 then create after-kill.txt")["session_id"]
        seen = []
        for event in stream(client, session):
            seen.append(event)
            if len(seen) == 2 + attempt:
                break
        kill_gateway(appliance, engine)
        rest = read_all(client, session, last_event_id=seen[-1].id)

        ids = [e.id for e in seen + rest]
        assert rest, f"attempt {attempt}: the reconnect got nothing after event {seen[-1].id}"
        assert ids == list(range(ids[0], ids[0] + len(ids))), f"attempt {attempt}: every event once, in order"
        assert rest[-1].event == "end_turn", (attempt, rest[-1])


def test_a_gateway_killed_while_it_creates_a_container_leaves_no_half_made_one(appliance, engine, client):
    project = project_id()
    limits = {"resource_limits": {"cpu_limit": 1}}  # not from the warm pool: a container made now
    body = {"prompt": "hello", "project_id": project, "agent_config": limits}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.post, "/chat", json=body)
        eventually(lambda: agent_containers(engine, appliance.stack, project), 30, "the container being made")
        kill_gateway(appliance, engine)
        pending.exception()  # the request ends one way or another (a 502 from the proxy, or a reset)

    leftovers = agent_containers(engine, appliance.stack, project)
    assert all(c.status == "running" for c in leftovers), [(c.name, c.status) for c in leftovers]
    session = chat(client, project, "hello", agent_config=limits)["session_id"]
    assert read_all(client, session)[-1].event == "end_turn"
    assert len(agent_containers(engine, appliance.stack, project)) == 1


def test_events_from_before_a_restart_replay_after_it(appliance, engine, client):
    project = project_id()
    session = chat(client, project, "create before.txt")["session_id"]
    before = read_all(client, session)

    appliance.restart_gateway(engine)

    assert [(e.id, e.event) for e in read_all(client, session)] == [(e.id, e.event) for e in before]
    tail = read_all(client, session, last_event_id=before[-3].id)
    assert [e.id for e in tail] == [e.id for e in before[-2:]]


def test_a_killed_container_ends_its_stream_with_an_error_within_five_seconds(appliance, engine, client):
    project = project_id()
    session = chat(client, project, "wait 60")["session_id"]
    events = stream(client, session)
    assert next(events).event == "prompt_start"
    [container] = agent_containers(engine, appliance.stack, project)

    container.kill()
    killed_at = time.monotonic()
    terminal = next(e for e in events if e.data["messageType"] == "sessionPromptEnd")
    elapsed = time.monotonic() - killed_at

    assert terminal.event == "error" and "container" in terminal.data["data"]["message"]
    assert elapsed < 5.0, f"the stream ended {elapsed:.2f} s after the kill"
    # The next chat gets a fresh container.
    chat(client, project, "hello")
    [fresh] = [c for c in agent_containers(engine, appliance.stack, project) if c.status == "running"]
    assert fresh.id != container.id


def test_an_orphan_container_is_adopted_at_start_up(appliance, engine, client):
    orphan = project_id()
    container = engine.containers.run(
        image("agent"),
        name=f"rcoder-{appliance.stack}-agent-{orphan}",
        labels={
            "rcoder.managed": "true",
            "rcoder.stack": appliance.stack,
            "rcoder.kind": "agent",
            "rcoder.project": orphan,
        },
        network=f"rcoder-{appliance.stack}-agents",
        detach=True,
    )
    assert client.get(f"/agent/status/{orphan}").status_code == 404, "unknown before the restart"
    succeeds_within(container, ["rcoder-runner-probe"], 30, "the orphan's runner answering")

    appliance.restart_gateway(engine)

    status = client.get(f"/agent/status/{orphan}")
    assert status.status_code == 200 and status.json()["data"]["is_alive"] is True
    chat(client, orphan, "hello")
    assert [c.id for c in agent_containers(engine, appliance.stack, orphan)] == [container.id]


# Stops rcoder-agent-init from starting the runner again (SIGSTOP), then stops the runner.
STOP_THE_RUNNER = """
import os, signal
def pids(name):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()
            and name in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")]
for pid in pids("rcoder-agent-init"):
    os.kill(pid, signal.SIGSTOP)
for pid in pids("bin/rcoder-runner"):
    os.kill(pid, signal.SIGKILL)
"""


KILL = """
import os, signal, sys
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != os.getpid():
        if sys.argv[1] in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace"):
            os.kill(int(p), signal.SIGKILL)
"""


@pytest.mark.parametrize("process", ["bin/rcoder-runner", "rcoder-demo-agent"])
def test_a_process_killed_mid_turn_ends_the_turn_and_the_next_chat_works(client, engine, appliance, process):
    """SIGKILL to the runner (rcoder-agent-init starts it again) or to the agent, inside the container."""
    project = project_id()
    session = chat(client, project, "wait 20")["session_id"]
    events = stream(client, session)
    seen = [next(events), next(events)]
    [container] = agent_containers(engine, appliance.stack, project)

    assert container.exec_run(["python3", "-c", KILL, process]).exit_code == 0
    started = time.monotonic()
    seen += list(events)

    assert time.monotonic() - started < 15, "the turn ended well before the agent's 20 s of work"
    assert seen[-1].event == "error", seen[-1]
    ids = [e.id for e in seen]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "no event lost or doubled"
    again = eventually(lambda: _chat_or_none(client, project), 30, "a chat being taken again")
    assert read_all(client, again)[-1].event == "end_turn"


def _chat_or_none(client, project: str) -> str | None:
    response = client.post("/chat", json={"prompt": "hello", "project_id": project})
    return response.json()["data"]["session_id"] if response.status_code == 200 else None


def test_a_stopped_runner_gives_503(client, engine, appliance):
    project = project_id()
    chat(client, project, "hello")
    [container] = agent_containers(engine, appliance.stack, project)
    assert container.exec_run(["python3", "-c", STOP_THE_RUNNER]).exit_code == 0

    response = client.post("/agent/session/cancel", json={"project_id": project})

    assert response.status_code == 503 and response.json()["code"] == "GRPC_ERROR"
    assert "retry" in response.json()["message"]


def test_cleanup_pauses_an_idle_container_removes_it_later_and_spares_a_busy_one(engine):
    settings = {
        "RCODER_IDLE_TIMEOUT_SECONDS": "2",
        "RCODER_CLEANUP_INTERVAL_SECONDS": "1",
        "RCODER_CONTAINER_PROTECTION_SECONDS": "0",
        "RCODER_PAUSED_KEEP_SECONDS": "4",
    }
    with run_appliance(engine, **settings) as appliance, appliance.client() as client:
        idle, busy = project_id(), project_id()
        read_all(client, chat(client, idle, "hello")["session_id"])
        chat(client, busy, "wait 60")

        def status(project: str) -> str:
            found = agent_containers(engine, appliance.stack, project)
            return found[0].status if found else "removed"

        eventually(lambda: status(idle) == "paused", 20, "the idle container being paused")
        eventually(lambda: status(idle) == "removed", 20, "the paused container going after its keep time")
        assert status(busy) == "running", "the busy one was never paused"
        assert engine.volumes.get(f"rcoder-{appliance.stack}-ws-{idle}"), "its workspace stays"
        client.post("/agent/session/cancel", json={"project_id": busy})
