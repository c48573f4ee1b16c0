"""A turn's events, typed: each SSE event's `data` ({sessionId, messageType, subType, data, timestamp},
described by the gateway's `ProgressEventData`) becomes the class its subType names.

Message and thought chunks carry their text, the plan its entries, tool calls their id, title and
status; a permission request can be answered; a repository's clone, before the agent's turn, reports
its progress and its commit; `TurnEnd` (and `StreamError`) end the turn.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError

from rcoder.sse import ServerSentEvent
from rcoder_wire.replies import ProgressEventData

Responder = Callable[[str, str | None], Awaitable[None]]
R = TypeVar("R")
ALLOW_KINDS = ("allow_once", "allow_always")
REJECT_KINDS = ("reject_once", "reject_always")


@dataclass(frozen=True)
class Event:
    """Any event of a turn. `id` is its sequence number in the session (None on a stream error)."""

    id: int | None
    session_id: str
    type: str
    timestamp: str
    data: dict[str, Any] = field(repr=False)
    terminal: ClassVar[bool] = False

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The subclass's own fields, read from the event's data."""
        return {}


def records(items: Any, make: Callable[..., R], fields: tuple[tuple[str, str], ...]) -> tuple[R, ...]:
    """`make` of each object in the list `items`, given its `fields` ((key, default), ...) as strings."""
    if not isinstance(items, list):
        return ()
    return tuple(
        make(*(str(item.get(key, default)) for key, default in fields))
        for item in items
        if isinstance(item, dict)
    )


def content_text(data: dict[str, Any]) -> str:
    content = data.get("content") or {}
    return content.get("text", "") if isinstance(content, dict) and content.get("type") == "text" else ""


@dataclass(frozen=True)
class PromptStart(Event):
    pass


@dataclass(frozen=True)
class MessageChunk(Event):
    """A piece of the agent's reply (Markdown)."""

    text: str = ""

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"text": content_text(data)}


@dataclass(frozen=True)
class ThoughtChunk(MessageChunk):
    """A piece of the agent's thinking."""


@dataclass(frozen=True)
class UserMessageChunk(MessageChunk):
    """A piece of the user's prompt, as the agent replays it (a loaded session)."""


@dataclass(frozen=True)
class PlanEntry:
    content: str
    status: str  # pending, in_progress, completed
    priority: str = "medium"


@dataclass(frozen=True)
class Plan(Event):
    """The agent's whole plan as it stands now (each plan event replaces the last)."""

    entries: tuple[PlanEntry, ...] = ()

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        fields = (("content", ""), ("status", "pending"), ("priority", ""))
        return {"entries": records(data.get("entries"), PlanEntry, fields)}


@dataclass(frozen=True)
class ToolCall(Event):
    """A tool call the agent starts (`tool_call`), or news of one (`ToolCallUpdate`): fields it does
    not mention are None."""

    tool_call_id: str = ""
    title: str | None = None
    kind: str | None = None
    status: str | None = None  # pending, in_progress, completed, failed

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "tool_call_id": str(data.get("toolCallId", "")),
            "title": data.get("title"),
            "kind": data.get("kind"),
            "status": data.get("status"),
        }


@dataclass(frozen=True)
class ToolCallUpdate(ToolCall):
    pass


@dataclass(frozen=True)
class PermissionOption:
    option_id: str
    name: str
    kind: str  # allow_once, allow_always, reject_once, reject_always


@dataclass(frozen=True)
class PermissionRequest(Event):
    """The agent asks before a tool acts (the `ask` policy). Answer it with one of its options; it is
    denied after `timeout_seconds` otherwise."""

    request_id: str = ""
    tool_call: dict[str, Any] = field(default_factory=dict)
    options: tuple[PermissionOption, ...] = ()
    timeout_seconds: float | None = None
    _responder: Responder | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        options = records(
            data.get("options"), PermissionOption, (("optionId", ""), ("name", ""), ("kind", ""))
        )
        return {
            "request_id": str(data.get("requestId", "")),
            "tool_call": data.get("toolCall") or {},
            "options": options,
            "timeout_seconds": data.get("timeoutSeconds"),
        }

    @property
    def title(self) -> str:
        return str(self.tool_call.get("title") or self.tool_call.get("toolCallId") or "a tool call")

    def option(self, kinds: tuple[str, ...]) -> PermissionOption | None:
        return next((o for o in self.options if o.kind in kinds), None)

    async def answer(self, option_id: str | None) -> None:
        """Answer with one of `options`' ids; None cancels the request."""
        if self._responder is None:
            raise RuntimeError("this permission request did not come from a turn, so it cannot be answered")
        await self._responder(self.request_id, option_id)

    async def allow(self) -> None:
        chosen = self.option(ALLOW_KINDS)
        await self.answer(chosen.option_id if chosen else None)

    async def reject(self) -> None:
        chosen = self.option(REJECT_KINDS)
        await self.answer(chosen.option_id if chosen else None)


@dataclass(frozen=True)
class PermissionResolved(Event):
    """How a permission request was settled: `how` is answered or timed_out; `option_id` None: cancelled."""

    request_id: str = ""
    how: str = ""
    option_id: str | None = None

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "request_id": str(data.get("requestId", "")),
            "how": str(data.get("how", "")),
            "option_id": data.get("optionId"),
        }


@dataclass(frozen=True)
class GitClone(Event):
    """How far the repository's clone is, before the agent's turn: git's phase ("receiving objects")
    and its percentage (None where git only counts)."""

    phase: str = ""
    percent: int | None = None
    received_bytes: int | None = None

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "phase": str(data.get("phase", "")),
            "percent": data.get("percent"),
            "received_bytes": data.get("received_bytes"),
        }


@dataclass(frozen=True)
class GitCloneEnd(Event):
    """The repository is cloned: the commit checked out, and the branch, tag or commit it came by
    (both None for a repository without commits)."""

    commit: str | None = None
    ref: str | None = None

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"commit": data.get("commit"), "ref": data.get("ref")}


@dataclass(frozen=True)
class TurnEnd(Event):
    """The turn's last event. `stop_reason` is its subType: end_turn, cancelled, error, max_tokens, ..."""

    description: str = ""
    error_message: str | None = None
    terminal: ClassVar[bool] = True

    @property
    def stop_reason(self) -> str:
        return self.type

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        error = data.get("error_message") or (data.get("message") if "code" in data else None)
        return {"description": str(data.get("description", "")), "error_message": error}


@dataclass(frozen=True)
class StreamError(TurnEnd):
    """The gateway could not go on streaming the turn (its runner is gone, say): the stream ends."""

    code: str = ""

    @classmethod
    def fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"code": str(data.get("code", "")), "error_message": str(data.get("message", ""))}


@dataclass(frozen=True)
class Update(Event):
    """Any other event (available_commands_update, current_mode_update, a newer kind): see `data`."""


BY_TYPE: dict[str, type[Event]] = {
    "prompt_start": PromptStart,
    "agent_message_chunk": MessageChunk,
    "agent_thought_chunk": ThoughtChunk,
    "user_message_chunk": UserMessageChunk,
    "plan": Plan,
    "tool_call": ToolCall,
    "tool_call_update": ToolCallUpdate,
    "permission_request": PermissionRequest,
    "permission_resolved": PermissionResolved,
    "git_clone": GitClone,
    "git_clone_end": GitCloneEnd,
}


def from_sse(sse: ServerSentEvent, responder: Responder | None = None) -> Event:
    """The typed event an SSE event of /agent/progress carries; `responder` answers permission requests.
    An event of a shape this client does not know (a newer appliance's) is an `Update`."""
    event_id = int(sse.id) if sse.id and sse.id.isdigit() else None
    try:
        payload = ProgressEventData.model_validate_json(sse.data)
    except ValidationError:
        return Update(id=event_id, session_id="", type=sse.event, timestamp="", data={"raw": sse.data})
    if payload.messageType == "error":
        cls: type[Event] = StreamError
    elif payload.messageType == "sessionPromptEnd":
        cls = TurnEnd
    else:
        cls = BY_TYPE.get(payload.subType, Update)
    extra = cls.fields(payload.data)
    if cls is PermissionRequest:
        extra["_responder"] = responder
    return cls(
        id=event_id,
        session_id=payload.sessionId,
        type=payload.subType,
        timestamp=payload.timestamp,
        data=payload.data,
        **extra,
    )


def to_json(event: Event) -> str:
    """The event as one JSON line, as the appliance sent it (plus its id): for `--json` output."""
    return json.dumps(
        {
            "id": event.id,
            "sessionId": event.session_id,
            "subType": event.type,
            "data": event.data,
            "timestamp": event.timestamp,
        },
        ensure_ascii=False,
    )
