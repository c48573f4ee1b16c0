"""`run`: one prompt from synchronous code (a script), to the turn's end. In a notebook, whose event
loop is already running, `await` the async API instead."""

from __future__ import annotations

import asyncio
from typing import Any

from rcoder.client import Appliance
from rcoder.turn import TurnResult


def run(
    project: str, prompt: str, *, url: str | None = None, api_key: str | None = None, **options: Any
) -> TurnResult:
    """Send `prompt` to `project` and wait for the turn to end (permission requests under `ask` go
    unanswered: they are denied when they time out). `options` are `Project.chat`'s."""

    async def turn() -> TurnResult:
        async with Appliance(url, api_key) as appliance:
            return await (await appliance.project(project).chat(prompt, **options)).result()

    return asyncio.run(turn())
