"""Asking the person at the terminal which option answers a permission request, without blocking the
event loop (the turn's stream and Ctrl-C go on being handled while the question waits)."""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from rcoder import events as ev


def choose(request: ev.PermissionRequest, answer: str) -> ev.PermissionOption | None:
    """The option an answer names: its number, its id, or its name (any case)."""
    answer = answer.strip().lower()
    for number, option in enumerate(request.options, 1):
        if answer in (str(number), option.option_id.lower(), option.name.lower()):
            return option
    return None


async def read_line() -> str:
    """One line typed on stdin (a terminal reads a whole line before it is readable)."""
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str] = loop.create_future()

    def readable() -> None:
        if not line.done():
            line.set_result(sys.stdin.readline())

    loop.add_reader(sys.stdin.fileno(), readable)
    try:
        text = await line
    finally:
        loop.remove_reader(sys.stdin.fileno())
    if text == "":
        raise EOFError("stdin closed")
    return text


async def ask(console: Console, request: ev.PermissionRequest) -> ev.PermissionOption:
    """Show the request and its options, and ask until one is chosen."""
    raw_input = request.tool_call.get("rawInput") or {}
    detail = f"\n{raw_input.get('path')}" if isinstance(raw_input, dict) and raw_input.get("path") else ""
    choices = "   ".join(f"[{n}] {o.name}" for n, o in enumerate(request.options, 1))
    console.print(
        Panel(
            Text.assemble(("The agent asks to: ", "bold"), request.title, detail, "\n\n", choices),
            title="permission",
            border_style="yellow",
        )
    )
    while True:
        console.print(f"Answer (1-{len(request.options)} or a name): ", end="")
        chosen = choose(request, await read_line())
        if chosen is not None:
            return chosen
        console.print("[red]That is none of the options.[/red]")
