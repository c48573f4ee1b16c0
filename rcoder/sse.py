"""Server-Sent Events as the appliance writes them: `id:`, `event:`, `data:` fields, an empty line
ending each event, and `:` comments (the 15 s keep-alives), which are skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    id: str | None
    event: str
    data: str


async def parse(lines: AsyncIterator[str]) -> AsyncIterator[ServerSentEvent]:
    """The events in `lines` (without their line endings). An event cut off before its empty line
    is not complete, so it is not yielded: a reconnecting reader gets it again."""
    event_id: str | None = None
    event = ""
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield ServerSentEvent(event_id, event or "message", "\n".join(data))
            event_id, event, data = None, "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value
