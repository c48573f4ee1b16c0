"""Response bodies of the HTTP API: the seed's envelope around each route's data.

The routes build their `data` from these models, so the API documentation cannot drift
from what is sent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Envelope(BaseModel):
    """The seed's envelope. `tid` is the request's trace id."""

    code: str = Field(description='"0000" on success, else an error code')
    message: str
    tid: str | None = Field(description="OpenTelemetry trace id of the request")
    success: bool


class ErrorReply(Envelope):
    data: None = None


class Health(BaseModel):
    status: Literal["healthy"]
    timestamp: str
    service: str


class ChatData(BaseModel):
    project_id: str
    session_id: str = Field(description="stream its events from /agent/progress/{session_id}")
    error: str | None = None
    request_id: str | None = None


class ChatReply(Envelope):
    data: ChatData


class CancelData(BaseModel):
    success: bool
    session_id: str = Field(description='the cancelled session, or "all"')


class CancelReply(Envelope):
    data: CancelData


class StopData(BaseModel):
    success: bool
    project_id: str
    session_id: str | None = None
    message: str


class StopReply(Envelope):
    data: StopData


class StatusData(BaseModel):
    project_id: str
    is_alive: bool = Field(description="whether the project's agent container runs")
    session_id: str | None = Field(description="the project's latest session")
    status: Literal["Active", "Idle"] | None = Field(
        description="Active while a turn runs; null if not alive"
    )
    last_activity: str
    created_at: str


class StatusReply(Envelope):
    data: StatusData


class ProgressEventData(BaseModel):
    """The `data:` of each SSE event; `id:` is its sequence number and `event:` its subType."""

    sessionId: str
    messageType: Literal["sessionPromptStart", "sessionPromptEnd", "agentSessionUpdate", "error"]
    subType: str
    data: dict[str, Any]
    timestamp: str


def data(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
