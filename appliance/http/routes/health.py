"""GET /health: the gateway answers (no dependency is checked, so that it stays cheap and unauthenticated)."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request, json
from sanic_ext import openapi

from appliance.http.docs import json_body
from appliance.http.replies import Health, data

bp = Blueprint("health")


@bp.get("/health")
@openapi.definition(
    summary="Whether the gateway answers (no API key needed)",
    response=[openapi.definitions.Response(json_body(Health), status=200)],
    secured={},
    tag="health",
)
async def health(request: Request):
    reply = Health(status="healthy", timestamp=datetime.now(UTC).isoformat(), service="rcoder-ai-service")
    return json(data(reply))
