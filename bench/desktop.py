"""A user's desktop: /computer/pod/ensure until VNC and noVNC answer, and the first event of a
/computer/chat for a new user (its desktop started on the way)."""

from __future__ import annotations

import time
import uuid

from bench.measure import Figure, first_event, ms, read_to_end, summary
from tests.eventually import eventually
from tests.stack import Appliance


def ready_seconds(appliance: Appliance) -> float:
    user = f"u{uuid.uuid4().hex[:10]}"
    with appliance.client() as client:
        started = time.perf_counter()
        client.post("/computer/pod/ensure", json={"user_id": user, "project_id": "p1"}, timeout=180)

        def shows() -> bool:
            reply = client.get("/computer/pod/vnc-status", params={"user_id": user}).json()["data"]
            return reply["vnc_ready"] and reply["novnc_ready"]

        eventually(shows, 120, f"the desktop of {user} showing", interval=0.05)
        return time.perf_counter() - started


def chat_seconds(appliance: Appliance) -> float:
    body = {"prompt": "hello", "project_id": "p1", "user_id": f"u{uuid.uuid4().hex[:10]}"}
    with appliance.client() as client:
        seconds, session = first_event(client, "/computer/chat", body, "/computer/progress")
        read_to_end(client, session, "/computer/progress")
    return seconds


def run(appliance: Appliance, n: int) -> Figure:
    ready = summary([ready_seconds(appliance) for _ in range(n)])
    chat = summary([chat_seconds(appliance) for _ in range(n)])
    figure = Figure("desktop")
    figure.data = {"ensure_to_vnc_ready": ready, "computer_chat_first_event": chat}
    figure.row("pod/ensure -> VNC and noVNC ready p50", ms(ready["p50"]))
    figure.row("/computer/chat new user -> first event p50", ms(chat["p50"]))
    return figure
