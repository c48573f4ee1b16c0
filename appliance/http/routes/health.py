"""GET /health: the gateway answers (no dependency is checked, so that it stays cheap and unauthenticated);
"degraded" when it knows it cannot take new work (its state cannot be written)."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, json
from sanic_ext import openapi

from appliance.http.context import GatewayRequest
from appliance.http.docs import json_body
from appliance.http.envelope import data
from rcoder_wire.replies import Health

bp = Blueprint("health")


@bp.get("/health")
@openapi.definition(
    summary="Whether the gateway answers (no API key needed)",
    response=[openapi.definitions.Response(json_body(Health), status=200)],
    secured={},
    tag="health",
)
async def health(request: GatewayRequest):
    gateway = request.app.ctx
    problem = gateway.store.problem
    reply = Health(
        status="degraded" if problem else "healthy",
        timestamp=datetime.now(UTC).isoformat(),
        service="rcoder-ai-service",
        problem=problem,
        workspace_bytes=gateway.workloads.volume_bytes,
        workspace_quota_problem=gateway.workloads.quota_problem,
    )
    return json(data(reply))
