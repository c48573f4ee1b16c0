"""A turn in the terminal (rich): a repository's clone as one progress line, the plan as a checklist, tool calls with their status, the latest
thought dimmed, the reply as Markdown, and a spinner until the turn's end, which closes it with a
status line. `TurnView` holds what the events said; rich draws it on each refresh."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markdown import Markdown
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

from rcoder import events as ev

PLAN_MARKS = {"completed": ("✔", "green"), "in_progress": ("▸", "bold yellow"), "pending": ("☐", "dim")}
TOOL_MARKS = {
    "pending": ("○", "dim"),
    "in_progress": ("◐", "yellow"),
    "completed": ("✔", "green"),
    "failed": ("✖", "red"),
}
END_MARKS = {"end_turn": ("✔", "green"), "cancelled": ("■", "yellow")}
THOUGHT_CHARS = 160


@dataclass
class ToolState:
    title: str
    kind: str
    status: str


class TurnView:
    """What a turn has shown so far. `live` crops the reply to its last lines, so that the newest text
    stays on screen while the turn runs; the final view shows everything."""

    def __init__(self, heading: str = "") -> None:
        self.heading = heading
        self.plan: tuple[ev.PlanEntry, ...] = ()
        self.tools: dict[str, ToolState] = {}
        self.clone = ""  # the repository's clone, before the agent's turn
        self.thought = ""
        self.reply = ""
        self.waiting = "waiting for the agent"
        self.end: ev.TurnEnd | None = None
        self.live = True
        self.seen = 0

    def apply(self, event: ev.Event) -> None:
        self.seen += 1
        if isinstance(event, ev.Plan):
            self.plan = event.entries
        elif isinstance(event, ev.ThoughtChunk):
            self.thought = (self.thought + event.text)[-THOUGHT_CHARS:]
        elif type(event) is ev.MessageChunk:
            self.reply += event.text
            self.thought = ""
        elif isinstance(event, ev.ToolCall):
            known = self.tools.get(event.tool_call_id) or ToolState("tool call", "", "pending")
            known.title = event.title or known.title
            known.kind = event.kind or known.kind
            known.status = event.status or known.status
            self.tools[event.tool_call_id] = known
        elif isinstance(event, ev.PermissionRequest):
            self.waiting = f"waiting for permission: {event.title}"
        elif isinstance(event, ev.PermissionResolved):
            self.waiting = "waiting for the agent"
        elif isinstance(event, ev.GitClone):
            percent = f" {event.percent}%" if event.percent is not None else ""
            self.clone = f"cloning: {event.phase}{percent}"
        elif isinstance(event, ev.GitCloneEnd):
            where = f"{event.ref} at {event.commit[:7]}" if event.commit else "an empty repository"
            self.clone = f"cloned {where}"
        elif isinstance(event, ev.TurnEnd):
            self.end = event

    def final(self) -> TurnView:
        """The same view, uncropped and without the spinner (to print once the turn is over)."""
        self.live = False
        return self

    def parts(self) -> list[RenderableType]:
        parts: list[RenderableType] = []
        if self.heading:
            parts.append(Text(self.heading, style="bold"))
        if self.clone:
            parts.append(Text(self.clone, style="cyan"))
        if self.plan:
            parts.append(Text("Plan", style="bold underline"))
            for entry in self.plan:
                mark, style = PLAN_MARKS.get(entry.status, ("?", ""))
                parts.append(Text.assemble(f" {mark} ", (entry.content, style)))
        for tool in list(self.tools.values()):
            mark, style = TOOL_MARKS.get(tool.status, ("?", ""))
            kind = f" ({tool.kind})" if tool.kind else ""
            parts.append(
                Text.assemble((f"{mark} {tool.title}{kind} ", style), (tool.status, style + " italic"))
            )
        if self.thought and self.live and self.end is None:
            parts.append(Text(self.thought.strip(), style="dim italic"))
        return parts

    def status(self) -> RenderableType:
        if self.end is None:
            return (
                Spinner("dots", Text(self.waiting, style="cyan"))
                if self.live
                else Text("(the turn did not end)")
            )
        mark, style = END_MARKS.get(self.end.stop_reason, ("✖", "red"))
        detail = self.end.error_message or self.end.description
        return Text.assemble(
            (f"{mark} {self.end.stop_reason}", f"bold {style}"), f"  {detail}" if detail else ""
        )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        above = Group(*self.parts())
        status = self.status()
        reply = Markdown(self.reply) if self.reply else None
        if reply is None:
            yield Group(above, status)
            return
        if not self.live:
            yield Group(above, reply, status)
            return
        # Live: the reply gets the lines the rest leaves, and shows its end.
        used = len(console.render_lines(above, options, pad=False)) + 1
        room = max((options.height or console.height) - used - 1, 3)
        lines = console.render_lines(reply, options, pad=False)
        yield above
        for line in lines[-room:]:
            yield from line
            yield Segment.line()
        yield status
