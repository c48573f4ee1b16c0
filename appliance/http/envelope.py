"""The seed's response envelope: {code, message, data, tid, success}, with a real HTTP status.

`tid` is the trace id of the request (appliance/telemetry.py starts its span).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sanic import HTTPResponse, json

from appliance.messages import translate
from rcoder_rpc.tracing import current_trace_id

OK_CODE = "0000"


def ok(data: Any, message: str = "success") -> HTTPResponse:
    """Success; `message` (a template of appliance/messages.py) in the request's language."""
    body = {
        "code": OK_CODE,
        "message": translate(message),
        "data": data,
        "tid": current_trace_id(),
        "success": True,
    }
    return json(body)


def data(model: BaseModel) -> dict[str, Any]:
    """A reply model as the envelope's `data`."""
    return model.model_dump(mode="json")


def failure(status: int, code: str, message: str) -> HTTPResponse:
    body = {"code": code, "message": message, "data": None, "tid": current_trace_id(), "success": False}
    return json(body, status=status)
