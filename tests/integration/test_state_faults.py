"""The gateway's state volume fills up, or turns read-only, in the middle of a turn: the gateway takes
no new work (503, saying why, and /health says "degraded"), the running turn streams to its end with
nothing lost, and once the volume can be written again the gateway takes work again and the turn's
events are in its durable log (read back after a restart).

The state volume is a small ext4 file system of its own here (a loop device), so that filling it is
quick; it turns read-only as ext4 does on an I/O error (its `abort` option), and is repaired as an
operator would: the gateway stopped, e2fsck, the gateway started.
A gateway that starts on a read-only state volume serves what the state holds (replays) and takes no
new work, until it is restarted on a writable one.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from tests.eventually import eventually
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all, stream
from tests.stack import COMPOSE_FILE, Appliance, run_appliance, wait_healthy

pytestmark = pytest.mark.engine

STATE = "/var/lib/rcoder"


@dataclass(frozen=True)
class Unwritable:
    """An appliance whose state volume is a small ext4 file system on a loop device."""

    appliance: Appliance
    device: str

    @property
    def gateway(self):
        return docker.from_env().containers.get(f"rcoder-{self.appliance.stack}-gateway")


@pytest.fixture(scope="module")
def unwritable(engine, tmp_path_factory) -> Iterator[Unwritable]:
    image = tmp_path_factory.mktemp("state") / "state.ext4"
    subprocess.run(["truncate", "-s", "48M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", str(image)], check=True)
    losetup = ["losetup", "-f", "--show", str(image)]
    device = subprocess.run(losetup, check=True, capture_output=True, text=True).stdout.strip()
    try:
        options = {"type": "ext4", "device": device}
        with run_appliance(engine, state_options=options, RCODER_WARM_POOL_SIZE="0") as appliance:
            yield Unwritable(appliance, device)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def health(appliance) -> dict:
    return httpx.get(f"{appliance.url}/health", timeout=5).json()


def fill(state: Unwritable) -> None:
    # Until ENOSPC: big blocks, then small ones for what is left (ext4 keeps a few KiB it never gives).
    for size in ("1M", "4k", "512"):
        state.gateway.exec_run(["dd", "if=/dev/zero", f"of={STATE}/filler-{size}", f"bs={size}"])
    available = int(state.gateway.exec_run(["df", "--output=avail", STATE]).output.split()[-1])
    assert available < 64, f"{available} KiB left"


def empty(state: Unwritable) -> None:
    assert state.gateway.exec_run(["sh", "-c", f"rm -f {STATE}/filler-*"]).exit_code == 0


def abort(state: Unwritable) -> None:
    """What ext4 does on an I/O error under errors=remount-ro: it turns read-only, there and then
    (ext4's `abort` mount option, in the gateway's mount namespace)."""
    pid = str(state.gateway.attrs["State"]["Pid"])
    subprocess.run(["nsenter", "-t", pid, "-m", "mount", "-o", "remount,abort", STATE], check=True)


def check_and_restart(state: Unwritable) -> None:
    """The operator's repair: the gateway stopped (the volume unmounted), e2fsck, the gateway started."""
    state.gateway.stop()
    subprocess.run(["e2fsck", "-fy", state.device], check=False, capture_output=True)
    state.gateway.start()
    wait_healthy(state.appliance.url, state.appliance.services)


FAULTS = {"full": (fill, empty), "read-only": (abort, check_and_restart)}


@pytest.mark.parametrize("fault", FAULTS)
def test_an_unwritable_state_stops_new_work_loses_nothing_and_recovers(unwritable, fault):
    appliance = unwritable.appliance
    break_it, repair = FAULTS[fault]
    project, other = project_id(), project_id()
    with appliance.client() as client:
        session = chat(client, project, "wait 10 then create done.txt")["session_id"]
        events = stream(client, session)
        first = next(events)
        try:
            break_it(unwritable)
            degraded = eventually(lambda: health(appliance)["problem"], 15, "/health saying degraded")
            assert health(appliance)["status"] == "degraded"
            refused = client.post("/chat", json={"prompt": "hello", "project_id": other})
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "SERVICE_UNAVAILABLE"
            assert "cannot write its state" in refused.json()["message"], refused.text
            assert degraded in refused.json()["message"]
            # The running turn goes on: every event, in order, to its end.
            rest = list(events)
        finally:
            repair(unwritable)
        sequences = [first.id, *(event.id for event in rest)]
        assert sequences == list(range(first.id, first.id + len(sequences))), sequences
        assert rest[-1].event == "end_turn"

        eventually(lambda: health(appliance)["status"] == "healthy", 15, "/health saying healthy again")
        again = chat(client, other, "hello")["session_id"]
        assert read_all(client, again)[-1].event == "end_turn"

    # The turn's events reached the durable log: a restarted gateway replays them, each once.
    unwritable.gateway.restart()
    wait_healthy(appliance.url, appliance.services)
    with appliance.client() as client:
        replayed = [event.id for event in read_all(client, session, last_event_id=0)]
    assert replayed == list(range(1, len(replayed) + 1)) and replayed[-1] >= sequences[-1], replayed


def recreate_gateway(appliance, state_mode: str) -> None:
    """Recreate the gateway container with its state volume mounted `state_mode` (ro or rw)."""
    folder = Path(tempfile.gettempdir())
    override = folder / f"rcoder-{appliance.stack}-gateway-{state_mode}.yml"
    volumes = [f"state:{STATE}:{state_mode}", "/var/run/docker.sock:/var/run/docker.sock"]
    override.write_text(json.dumps({"version": "3.5", "services": {"gateway": {"volumes": volumes}}}))
    files = [COMPOSE_FILE, folder / f"rcoder-{appliance.stack}-state.yml", override]
    command = ["docker-compose", *(f"-f{file}" for file in files), "-p", f"rcoder-{appliance.stack}"]
    try:
        subprocess.run([*command, "up", "-d", "--force-recreate", "gateway"], check=True, capture_output=True)
    finally:
        override.unlink()
    wait_healthy(appliance.url, appliance.services)


def test_a_gateway_started_on_a_read_only_state_serves_it_and_takes_no_new_work(unwritable):
    appliance = unwritable.appliance
    project = project_id()
    with appliance.client() as client:
        session = chat(client, project, "hello")["session_id"]
        before = [event.id for event in read_all(client, session)]

    recreate_gateway(appliance, "ro")
    try:
        state = health(appliance)
        assert state["status"] == "degraded" and "read-only" in state["problem"], state
        with appliance.client() as client:
            assert [event.id for event in read_all(client, session, last_event_id=0)] == before
            refused = client.post("/chat", json={"prompt": "hello", "project_id": project_id()})
            assert refused.status_code == 503 and "cannot write its state" in refused.json()["message"]
    finally:
        recreate_gateway(appliance, "rw")
    assert health(appliance)["status"] == "healthy"
    with appliance.client() as client:
        assert read_all(client, chat(client, project_id(), "hello")["session_id"])[-1].event == "end_turn"
