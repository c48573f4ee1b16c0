"""Many clients on one turn: a client that stops reading is cut off and resumes exactly where it was
with Last-Event-ID, while one that keeps reading gets every event without interruption."""

from __future__ import annotations

import re
import socket
import threading

import pytest

from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all

pytestmark = pytest.mark.engine

WORDS = 12_000  # about 3 MB of events: more than a client that stops reading may hold up


def raw_stream(host: str, port: int, path: str, key: str, last_event_id: int | None = None) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: it fills fast
    sock.connect((host, port))
    resume = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nx-api-key: {key}\r\n{resume}\r\n".encode())
    return sock


def complete_ids(received: bytes) -> list[int]:
    """The ids of the events received whole (an event is whole once its blank line has come)."""
    return [int(m) for m in re.findall(rb"id: (\d+)\nevent: [^\n]*\ndata: [^\n]*\n\n", received)]


def test_a_client_that_stops_reading_is_cut_off_and_resumes_while_another_keeps_up(appliance, client):
    project = project_id()
    session = chat(client, project, f"talk {WORDS} quickly")["session_id"]
    host, port = "127.0.0.1", int(appliance.gateway_url.rsplit(":", 1)[1])
    path = f"/agent/progress/{session}"

    fast: list = []
    reader = threading.Thread(target=lambda: fast.extend(read_all(client, session)))
    reader.start()

    slow = raw_stream(host, port, path, appliance.api_key)
    first = slow.recv(4096)  # it reads a little, then stops
    reader.join(timeout=120)
    assert not reader.is_alive() and fast[-1].event == "end_turn", "the reading client got it all, at once"

    # The turn is over and the fast client had everything; the slow one was cut off meanwhile.
    slow.settimeout(30)
    received = first
    while chunk := slow.recv(1 << 16):
        received += chunk
    slow.close()
    seen = complete_ids(received)
    assert seen and b'"subType":"end_turn"' not in received, "cut off before the end"

    rest = read_all(client, session, last_event_id=seen[-1])

    fast_ids = [int(e.id) for e in fast]
    assert fast_ids == list(range(fast_ids[0], fast_ids[-1] + 1)), "the fast client missed nothing"
    combined = seen + [int(e.id) for e in rest]
    assert combined == fast_ids, "after resuming, the slow client has every event exactly once"
    assert rest[-1].event == "end_turn"
