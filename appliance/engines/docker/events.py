"""What happens to one Docker host's containers, from its event stream: the ones that stop or go."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.engine import ContainerGone
from appliance.errors import EngineUnavailable
from appliance.labels import selector


async def container_events(sdk: DockerSdk, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
    """Containers carrying `labels` that die, are removed or run out of memory, as it happens.

    The SDK's event stream blocks, so it runs in a thread of its own and hands each event over.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
    filters = {"type": "container", "event": ["die", "destroy", "oom"], "label": selector(labels)}
    stream = await sdk.run(lambda: sdk.client().events(decode=True, filters=filters))

    def read() -> None:
        try:
            for event in stream:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            loop.call_soon_threadsafe(
                queue.put_nowait, EngineUnavailable("the engine closed its event stream")
            )
        except Exception as exc:  # handed to the reader below, which raises it there
            loop.call_soon_threadsafe(
                queue.put_nowait,
                EngineUnavailable("engine event stream failed: {detail}", detail=str(exc)),
            )

    reader = threading.Thread(target=read, name="docker-events", daemon=True)
    reader.start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            yield gone(item)
    finally:
        stream.close()


def gone(event: dict[str, Any]) -> ContainerGone:
    """Docker's event JSON: {"id", "Action", "Actor": {"Attributes": {labels..., "exitCode"}}}."""
    attributes = dict(event.get("Actor", {}).get("Attributes", {}))
    exit_code = attributes.pop("exitCode", None)
    return ContainerGone(
        container_id=event.get("id", ""),
        action=event.get("Action", "die"),
        labels={key: value for key, value in attributes.items() if key not in ("name", "image")},
        name=attributes.get("name", ""),
        exit_code=int(exit_code) if exit_code is not None else None,
    )
