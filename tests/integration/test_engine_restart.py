"""The Docker engine restarts in the middle of a turn. Without live-restore (Swarm mode forbids it) the
engine stops every container as it goes down, and starts again those with a restart policy: the
appliance's gateway and proxy come back by themselves, the project's container (no restart policy)
does not. Its turn then ends with an `error` event, after exactly the events that came before, and
the project's next chat gets a new container; nothing of the old one is left.

This stops every container on the engine, so it runs last (tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all, stream
from tests.stack import ROOT, agent_containers, run_appliance, wait_healthy

pytestmark = [pytest.mark.engine, pytest.mark.engine_restart]


def restart_engine() -> None:
    pid = int(Path("/var/run/docker.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    eventually(lambda: not Path(f"/proc/{pid}").exists(), 120, "dockerd stopping")
    subprocess.run(["bash", "scripts/lib/engine-up"], cwd=ROOT, check=True, capture_output=True)


def test_an_engine_restart_ends_the_turn_with_an_error_and_the_appliance_comes_back(engine):
    with run_appliance(engine, RCODER_WARM_POOL_SIZE="0") as appliance:
        project = project_id()
        with appliance.client() as client:
            session = chat(client, project, "wait 60")["session_id"]
            events = stream(client, session)
            before = [next(events) for _ in range(3)]
            events.close()

        restart_engine()
        engine.api.close()  # its pooled connections went with the old engine
        wait_healthy(appliance.url, appliance.services)

        with appliance.client() as client:
            after = read_all(client, session, last_event_id=before[-1].id)
            ids = [event.id for event in before + after]
            assert ids == list(range(ids[0], ids[0] + len(ids))), ids
            assert after[-1].event == "error", [event.event for event in after]

            eventually(
                lambda: not agent_containers(engine, appliance.stack, project), 30, "the dead container gone"
            )
            again = chat(client, project, "hello")["session_id"]
            assert read_all(client, again)[-1].event == "end_turn"
        [container] = agent_containers(engine, appliance.stack, project)
        assert container.status == "running"
