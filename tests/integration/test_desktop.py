"""Desktops through the appliance: the /computer/pod/* routes, and the desktop seen in a browser through the proxy."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image, ImageStat

from tests.eventually import eventually
from tests.integration.audio import play_tone, record_rms
from tests.integration.browser import open_page
from tests.integration.sse import stream
from tests.stack import agent_containers, containers, run_appliance

pytestmark = pytest.mark.engine


def user_id() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


def desktops(engine, stack: str, user: str) -> list:
    return containers(engine, label=[f"rcoder.stack={stack}", f"rcoder.user={user}", "rcoder.kind=desktop"])


def ensure(client, user: str, project: str = "p1") -> dict:
    response = client.post("/computer/pod/ensure", json={"user_id": user, "project_id": project}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def wait_vnc_ready(client, user: str) -> None:
    def ready() -> bool:
        return client.get("/computer/pod/vnc-status", params={"user_id": user}).json()["data"]["novnc_ready"]

    eventually(ready, 60, f"the desktop of {user} showing noVNC")


def computer_chat(client, user: str, prompt: str, project: str = "p1") -> str:
    """Send a prompt to a project's agent in the user's desktop; returns the session id."""
    body = {"user_id": user, "project_id": project, "prompt": prompt}
    response = client.post("/computer/chat", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["project_id"] == project
    return response.json()["data"]["session_id"]


def computer_events(client, session: str):
    return stream(client, session, route="/computer/progress")


def computer_agent(client, action: str, user: str, project: str = "p1") -> dict:
    response = client.post(f"/computer/agent/{action}", json={"user_id": user, "project_id": project})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_computer_chat_runs_each_users_project_in_their_own_desktop(client, engine, stack):
    notes = {user_id(): "from ann", user_id(): "from bob"}  # two users, each with a project "p1"
    sessions = {
        user: computer_chat(client, user, f'create notes.txt with content "{text}"')
        for user, text in notes.items()
    }

    for user, text in notes.items():
        kinds = [event.event for event in computer_events(client, sessions[user])]
        assert kinds[0] == "prompt_start" and kinds[-1] == "end_turn" and "tool_call" in kinds
        [desktop] = desktops(engine, stack, user)
        assert desktop.exec_run(["cat", "/home/agent/p1/notes.txt"]).output == text.encode()
        status = computer_agent(client, "status", user)
        assert status["is_alive"] is True and status["status"] == "idle"
        assert status["session_id"] == sessions[user]
    assert agent_containers(engine, stack, "p1") == [], "no agent container of its own"
    # The next prompt continues the project's session, in the same desktop.
    ann = next(iter(notes))
    assert computer_chat(client, ann, "hello") == sessions[ann]


def test_cancel_stop_and_a_lost_desktop_end_computer_turns(client, engine, stack):
    user = user_id()
    events = computer_events(client, computer_chat(client, user, "wait 60"))
    assert next(events).event == "prompt_start"
    assert (
        client.post("/computer/agent/session/cancel", json={"user_id": user, "project_id": "p1"}).status_code
        == 200
    )
    assert next(e for e in events if e.data["messageType"] == "sessionPromptEnd").event == "cancelled"

    stopped = computer_agent(client, "stop", user)
    assert stopped["result"] == "stopped"
    [desktop] = desktops(engine, stack, user)
    assert desktop.status == "running", "the desktop stays"
    assert computer_agent(client, "status", user)["is_alive"] is False

    events = computer_events(client, computer_chat(client, user, "wait 60"))
    assert next(events).event == "prompt_start"
    desktop.kill()
    terminal = next(e for e in events if e.data["messageType"] == "sessionPromptEnd")
    assert terminal.event == "error" and "container" in terminal.data["data"]["message"]


def test_computer_routes_refuse_bad_input(client):
    missing_user = client.post("/computer/chat", json={"project_id": "p1", "prompt": "hi"})
    unknown = client.post("/computer/agent/status", json={"user_id": user_id(), "project_id": "p1"})
    bad_id = client.post("/computer/agent/stop", json={"user_id": "../etc", "project_id": "p1"})

    assert missing_user.status_code == 400 and "user_id" in missing_user.json()["message"]
    assert unknown.status_code == 404
    assert bad_id.status_code == 400 and "user_id" in bad_id.json()["message"]


def test_ensure_is_idempotent_under_concurrent_calls(client, engine, stack):
    user = user_id()
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda _: ensure(client, user), range(5)))

    assert sum(r["created"] for r in replies) == 1
    assert len({r["container_info"]["container_id"] for r in replies}) == 1
    assert len(desktops(engine, stack, user)) == 1
    status = client.get("/computer/pod/status", params={"user_id": user}).json()["data"]
    assert status["alive"] is True and status["container_id"] == replies[0]["container_info"]["container_id"]


def test_restart_gives_a_new_container_with_the_users_files_intact(client, engine, stack):
    user = user_id()
    first = ensure(client, user)["container_info"]["container_id"]
    [container] = desktops(engine, stack, user)
    container.exec_run(["sh", "-c", "mkdir -p /home/agent/p1 && echo kept > /home/agent/p1/notes.txt"])

    restarted = client.post("/computer/pod/restart", json={"user_id": user, "project_id": "p1"}, timeout=120)

    second = restarted.json()["data"]["container_info"]["container_id"]
    assert restarted.status_code == 200 and second != first
    [container] = desktops(engine, stack, user)
    assert container.exec_run(["cat", "/home/agent/p1/notes.txt"]).output == b"kept\n"


def test_one_users_token_does_not_open_anothers_desktop(appliance, client):
    ann, bob = user_id(), user_id()
    ensure(client, bob)
    ann_token = client.get(f"/computer/desktop/{ann}/p1", timeout=120).json()["data"]["token"]

    response = httpx.get(
        f"{appliance.url}/computer/vnc/{bob}/p1/vnc.html", params={"rcoder_token": ann_token}
    )

    assert response.status_code == 403 and "does not open" in response.json()["message"]


# The desktop's background (images/desktop/fluxbox/init).
BACKGROUND = (0x24, 0x32, 0x3D)


@contextlib.contextmanager
def desktop_in_browser(appliance, client, engine, stack: str, tmp_path) -> Iterator[tuple]:
    """A new user's desktop container, and noVNC showing it through the proxy (connected)."""
    user = user_id()
    desktop = client.get(f"/computer/desktop/{user}/p1", timeout=120).json()["data"]
    wait_vnc_ready(client, user)
    [container] = desktops(engine, stack, user)
    with open_page(appliance.url + desktop["proxy_vnc_url"], tmp_path / "profile") as page:
        # noVNC names the page after the remote desktop once it is connected.
        page.wait_for("document.title.endsWith(' - noVNC')", timeout=60)
        yield container, page


def test_the_desktop_shows_in_a_browser_through_the_proxy(appliance, client, engine, stack, tmp_path):
    """A clean desktop: its background, no error dialog, and a window that fills the screen, which
    noVNC sizes to the browser's viewport."""
    with desktop_in_browser(appliance, client, engine, stack, tmp_path) as (container, page):
        time.sleep(1)  # the first frame
        screenshot = page.screenshot(tmp_path / "desktop.png")
        # A terminal, as the desktop's menu opens it, fills the screen.
        container.exec_run(["sh", "-c", "xterm >/dev/null 2>&1 &"], detach=True)
        window = eventually(lambda: x_windows(container, "XTerm"), 20, "the terminal's window")[0]
        width, height = x_geometry(container, window)
        screen = container.exec_run(["sh", "-c", "xdpyinfo | grep dimensions"]).output.split()[1]
        screen_width, screen_height = (int(n) for n in screen.decode().split("x"))

    image = Image.open(screenshot)
    stddev = ImageStat.Stat(image.convert("L")).stddev[0]
    print(f"screenshot {screenshot}: stddev {stddev:.1f}")
    assert stddev > 10, f"the screenshot is blank (stddev {stddev:.1f})"
    _, commonest = max(image.convert("RGB").getcolors(maxcolors=2**24))
    assert all(abs(a - b) <= 8 for a, b in zip(commonest, BACKGROUND, strict=True)), commonest
    assert x_windows(container, "Xmessage") == [], "no error dialog on the desktop"
    assert width >= 0.9 * screen_width and height >= 0.8 * screen_height, (width, height, screen)


def test_copy_and_paste_pass_between_the_browser_and_the_desktop(appliance, client, engine, stack, tmp_path):
    """noVNC's clipboard and the desktop's, both ways (Xvnc keeps them in step)."""
    with desktop_in_browser(appliance, client, engine, stack, tmp_path) as (container, page):
        copied = container.exec_run(
            ["sh", "-c", "printf 'from the desktop 中文' | xclip -selection clipboard"]
        )
        assert copied.exit_code == 0, copied.output
        page.wait_for(
            "document.getElementById('noVNC_clipboard_text').value === 'from the desktop 中文'", timeout=20
        )
        page.evaluate(
            "(() => { const box = document.getElementById('noVNC_clipboard_text');"
            " box.value = 'from the browser'; box.dispatchEvent(new Event('change')); })()"
        )
        eventually(
            lambda: (
                container.exec_run(["xclip", "-o", "-selection", "clipboard"]).output == b"from the browser"
            ),
            20,
            "the browser's text on the desktop's clipboard",
        )


def x_windows(container, window_class: str) -> list[str]:
    found = container.exec_run(["xdotool", "search", "--onlyvisible", "--class", window_class])
    return found.output.decode().split() if found.exit_code == 0 else []


def x_geometry(container, window: str) -> tuple[int, int]:
    shown = container.exec_run(["xdotool", "getwindowgeometry", window]).output.decode()
    width, height = shown.split("Geometry:")[1].split()[0].split("x")
    return int(width), int(height)


def test_a_tone_on_the_desktop_reaches_the_audio_websocket_through_the_proxy(
    appliance, client, engine, stack
):
    user = user_id()
    desktop = client.get(f"/computer/desktop/{user}/p1", timeout=120).json()["data"]
    wait_vnc_ready(client, user)
    [container] = desktops(engine, stack, user)

    play_tone(container)
    base = appliance.url.replace("http://", "ws://")
    samples, rms = record_rms(
        f"{base}/computer/audio/{user}/p1/ws?format=pcm&rcoder_token={desktop['token']}"
    )

    assert samples > 48000, "a second of stereo sound arrived"
    assert rms > 500, f"the stream is silent (RMS {rms:.0f})"


def test_count_and_list_show_agents_and_desktops(client):
    user = user_id()
    ensure(client, user)
    client.post("/chat", json={"prompt": "hello", "project_id": f"p{uuid.uuid4().hex[:8]}"})

    counted = client.get("/computer/pod/count").json()["data"]
    listed = client.get("/computer/pod/list", params={"limit": 1}).json()["data"]
    everything = client.get("/computer/pod/list").json()["data"]

    assert (
        counted["by_service_type"]["rcoder"] >= 1 and counted["by_service_type"]["computer_agent_runner"] >= 1
    )
    assert counted["total_count"] == sum(counted["by_service_type"].values())
    assert listed["returned"] == 1 and listed["paginated"] is True and listed["total"] >= 2
    assert any(
        c["user_id"] == user and c["service_type"] == "computer_agent_runner"
        for c in everything["containers"]
    )
    assert client.get("/computer/pod/list", params={"limit": "many"}).status_code == 400


def test_keepalive_defers_the_cleanup_of_a_desktop(engine):
    settings = {
        "RCODER_IDLE_TIMEOUT_SECONDS": "3",
        "RCODER_PAUSED_KEEP_SECONDS": "0",
        "RCODER_CLEANUP_INTERVAL_SECONDS": "1",
        "RCODER_CONTAINER_PROTECTION_SECONDS": "0",
    }
    with run_appliance(engine, **settings) as appliance, appliance.client() as client:
        kept, idle = user_id(), user_id()
        stop = threading.Event()

        def keep_alive() -> list[dict]:
            """Start the kept desktop, then keep it alive every second until told to stop."""
            ensure(client, kept)
            replies = []
            while not stop.is_set():
                body = {"user_id": kept, "project_id": "p1"}
                replies.append(client.post("/computer/pod/keepalive", json=body).json()["data"])
                time.sleep(1)
            return replies

        # Kept alive from the moment it is ready: starting the other desktop can take longer than
        # the idle timeout on a busy machine.
        with ThreadPoolExecutor(1) as pool:
            kept_alive = pool.submit(keep_alive)
            ensure(client, idle)
            eventually(lambda: not desktops(engine, appliance.stack, idle), 30, "the idle desktop going")
            time.sleep(5)  # past the idle timeout and a cleanup round: only the keepalives hold it now
            stop.set()
            replies = kept_alive.result()

        assert replies, "keepalives were sent"
        for reply in replies:
            assert reply["existed"] is True and reply["current_activity_time"] >= (
                reply["previous_activity_time"] or 0
            )
        assert len(desktops(engine, appliance.stack, kept)) == 1, "the kept-alive one stays"
        assert engine.volumes.get(f"rcoder-{appliance.stack}-home-{idle}"), "the user's files stay"
