"""GET /health: the gateway answers (no dependency is checked, so that it stays cheap and unauthenticated)."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request, json

bp = Blueprint("health")


@bp.get("/health")
async def health(request: Request):
    return json(
        {"status": "healthy", "timestamp": datetime.now(UTC).isoformat(), "service": "rcoder-ai-service"}
    )
