"""The desktop image on its own: its display, VNC and noVNC come up, the IME types Unicode into the
focused window, and the audio stream carries what plays on the desktop."""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.sync.client import connect

from tests.eventually import eventually
from tests.integration.audio import play_tone, record_rms
from tests.integration.conftest import succeeds_within
from tests.stack import image

pytestmark = pytest.mark.engine

IMAGE = image("desktop")


@pytest.fixture(scope="module")
def desktop(engine):
    container = engine.containers.run(
        IMAGE,
        name=f"rcoder-test-desktop-{uuid.uuid4().hex[:8]}",
        labels={"rcoder.managed": "true", "rcoder.stack": "test-desktop-image", "rcoder.kind": "desktop"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        read_only=True,
        tmpfs={"/tmp": "rw,size=512m", "/home/agent": "rw,uid=1000,gid=1000,mode=0700,size=512m"},
        shm_size=256 * 1024 * 1024,
        detach=True,
    )
    try:
        succeeds_within(container, ["desktop-ready", "--check"], 90, "the desktop being ready")
        container.reload()
        yield container, container.attrs["NetworkSettings"]["IPAddress"]
    finally:
        print(container.logs().decode()[-3000:])
        container.remove(force=True)


def test_readiness_reports_display_vnc_and_novnc(desktop):
    container, _ = desktop
    succeeds_within(
        container, ["test", "-f", "/tmp/vnc_ready"], 30, "desktop-ready --watch writing /tmp/vnc_ready"
    )
    succeeds_within(container, ["rcoder-runner-probe"], 30, "the runner answering SERVING")


def test_the_ime_types_cjk_text_into_the_focused_window(desktop):
    container, address = desktop
    container.exec_run(
        ["xterm", "-title", "ime-target", "-e", "sh", "-c", "cat > /tmp/typed.txt"], detach=True
    )
    succeeds_within(container, ["xdotool", "search", "--name", "ime-target"], 20, "the text window opening")
    container.exec_run(
        ["sh", "-c", "xdotool windowactivate --sync $(xdotool search --name ime-target | head -1)"]
    )

    with connect(f"ws://{address}:6091") as ime:
        ime.send("ping")
        assert ime.recv(timeout=5) == "pong"
        ime.send(json.dumps({"type": "text", "text": "你好, RCoder\n"}))
        assert json.loads(ime.recv(timeout=30)) == {"status": "ok"}
        ime.send(json.dumps({"type": "text", "text": "bad\x1b"}))
        assert json.loads(ime.recv(timeout=5))["status"] == "error"

    eventually(
        lambda: container.exec_run(["cat", "/tmp/typed.txt"]).output.decode() == "你好, RCoder\n",
        10,
        "the CJK text arriving in the window",
    )


def test_a_tone_played_on_the_desktop_reaches_the_audio_stream(desktop):
    container, address = desktop
    play_tone(container)
    samples, rms = record_rms(f"ws://{address}:6089/ws?format=pcm")
    assert samples > 48000, "a second of stereo sound arrived"
    assert rms > 500, f"the stream is silent (RMS {rms:.0f})"
