"""Following a turn at the terminal: live with rich (asking on permission requests), or as JSON lines.

Ctrl-C during a chat cancels the turn, which then ends with its `cancelled` event; a second Ctrl-C
leaves at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live

from rcoder import events as ev
from rcoder.ask import ask
from rcoder.errors import RCoderError
from rcoder.render import TurnView
from rcoder.turn import Turn

INTERRUPTED = 130


def exit_code(end: ev.TurnEnd | None, interrupted: bool) -> int:
    if end is not None and end.stop_reason == "end_turn":
        return 0
    return INTERRUPTED if interrupted else 1


class Interrupts:
    """SIGINT while a turn runs: the first cancels the turn, the next one cancels `task` (leaves)."""

    def __init__(self, turn: Turn, view: TurnView | None) -> None:
        self.turn = turn
        self.view = view
        self.cancelling: asyncio.Task[None] | None = None
        self.task = asyncio.current_task()

    def __call__(self) -> None:
        if self.cancelling is not None or self.turn.end is not None:
            if self.task is not None:
                self.task.cancel()
            return
        if self.view is not None:
            self.view.waiting = "cancelling the turn (Ctrl-C again to leave at once)"
        self.cancelling = asyncio.ensure_future(self.turn.cancel())

    @property
    def interrupted(self) -> bool:
        return self.cancelling is not None


@contextlib.contextmanager
def interrupts(turn: Turn, view: TurnView | None, enabled: bool) -> Iterator[Interrupts]:
    handler = Interrupts(turn, view)
    loop = asyncio.get_running_loop()
    if enabled:
        loop.add_signal_handler(signal.SIGINT, handler)
    try:
        yield handler
    finally:
        if enabled:
            loop.remove_signal_handler(signal.SIGINT)


class LiveArea:
    """The live view, stopped while a question is asked. Each start is a new `Live`: a restarted one
    would first erase as many lines as it last drew, and those now hold the question."""

    def __init__(self, view: TurnView, console: Console) -> None:
        self.view = view
        self.console = console
        self.live: Live | None = None

    def start(self) -> None:
        if self.live is None:
            self.live = Live(self.view, console=self.console, transient=True, refresh_per_second=8)
            self.live.start()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class Question:
    """A permission request asked at the terminal, then answered, and the live view back. `chosen`
    once the person has picked an option: the request's resolution may then come before the reply."""

    def __init__(self, console: Console, request: ev.PermissionRequest, live: LiveArea) -> None:
        self.console = console
        self.chosen = False
        self.task = asyncio.create_task(self._ask(request, live))

    async def _ask(self, request: ev.PermissionRequest, live: LiveArea) -> None:
        # Cancelled (withdrawn, or leaving), it leaves the live view to whoever cancelled it.
        try:
            option = await ask(self.console, request)
            self.chosen = True
            self.console.print(f"→ {option.name}")
            await request.answer(option.option_id)
        except (RCoderError, EOFError) as exc:
            self.console.print(f"[red]The request was not answered: {exc}[/red]")
        live.start()

    def settled(self, resolved: ev.PermissionResolved, live: LiveArea) -> None:
        """The request was resolved: if not from here (timed out, cancelled, answered in the console),
        the question is withdrawn."""
        if not self.chosen and not self.task.done():
            self.task.cancel()
            self.console.print(
                f"\n[yellow]The request was settled elsewhere: {resolved.how}, {resolved.option_id}[/yellow]"
            )
            live.start()


async def follow_live(
    turn: Turn, console: Console, heading: str, *, ask: bool, cancel_on_interrupt: bool
) -> int:
    """Show the turn as it happens; then print it whole. `ask`: answer permission requests here."""
    view = TurnView(heading)
    live = LiveArea(view, console)
    asking: dict[str, Question] = {}
    with interrupts(turn, view, cancel_on_interrupt) as interrupt:
        live.start()
        try:
            async for event in turn:
                view.apply(event)
                if isinstance(event, ev.PermissionRequest) and ask:
                    live.stop()
                    asking[event.request_id] = Question(console, event, live)
                elif isinstance(event, ev.PermissionResolved) and event.request_id in asking:
                    asking[event.request_id].settled(event, live)
            # An answer given here is sent before the turn is printed whole.
            await asyncio.gather(*(q.task for q in asking.values() if q.chosen), return_exceptions=True)
        except asyncio.CancelledError:
            live.stop()
            console.print(view.final())
            console.print("[yellow]Left; the turn goes on (rcoder cancel stops it).[/yellow]")
            return INTERRUPTED
        finally:
            for question in asking.values():
                question.task.cancel()
            live.stop()
    if view.seen:
        console.print(view.final())
    return exit_code(turn.end, interrupt.interrupted)


async def follow_json(turn: Turn, *, cancel_on_interrupt: bool) -> int:
    """Each event as one JSON line on stdout; permission requests are not asked here (see stderr)."""
    with interrupts(turn, None, cancel_on_interrupt) as interrupt:
        try:
            async for event in turn:
                print(ev.to_json(event), flush=True)
                if isinstance(event, ev.PermissionRequest):
                    print(
                        f"rcoder: permission request {event.request_id} waits for an answer "
                        "(POST /agent/permission, or the web console)",
                        file=sys.stderr,
                    )
        except asyncio.CancelledError:
            return INTERRUPTED
    return exit_code(turn.end, interrupt.interrupted)
