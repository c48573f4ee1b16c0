"""A small SSE reader for the tests: parses `id:`, `event:` and `data:` lines into events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest


@dataclass
class Event:
    id: int | None
    event: str
    data: dict[str, Any]


def parse(lines: Iterator[str]) -> Iterator[Event]:
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                raw_id = fields.get("id")
                yield Event(
                    int(raw_id) if raw_id else None,
                    fields.get("event", "message"),
                    json.loads(fields["data"]),
                )
            fields = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            fields[key] = value.removeprefix(" ")


def stream(
    client: httpx.Client, session_id: str, last_event_id: int | None = None, route: str = "/agent/progress"
) -> Iterator[Event]:
    """The session's events as they arrive (the caller may stop early: the connection is closed)."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    with client.stream("GET", f"{route}/{session_id}", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from parse(response.iter_lines())


def read_all(client: httpx.Client, session_id: str, last_event_id: int | None = None) -> list[Event]:
    return list(stream(client, session_id, last_event_id))


def read_across(
    client: httpx.Client, session_id: str, interrupt: Callable[[], None], first: int = 4
) -> list[Event]:
    """The session's events, read across `interrupt` (e.g. a gateway restart), which must cut the stream
    after the `first` events: the rest are read again with Last-Event-ID."""
    seen = []
    events = stream(client, session_id)
    for event in events:
        seen.append(event)
        if len(seen) == first:
            break
    interrupt()
    with pytest.raises(httpx.HTTPError):
        list(events)  # the old connection is gone with the old gateway
    return seen + read_all(client, session_id, last_event_id=seen[-1].id)
