"""GET /metrics: the gateway's Prometheus metrics (appliance/metrics.py), no API key needed (as in the
seed); the gauges of what exists now are read as it answers."""

from __future__ import annotations

import logging
from collections import Counter

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sanic import Blueprint, raw
from sanic_ext import openapi

from appliance import labels, metrics
from appliance.errors import ApplianceError
from appliance.gateway import Gateway
from appliance.http.context import GatewayRequest

bp = Blueprint("metrics")
log = logging.getLogger(__name__)


@bp.get("/metrics")
@openapi.definition(
    summary="Prometheus metrics (no API key needed)",
    response=[openapi.definitions.Response({"text/plain": str}, status=200)],
    secured={},
    tag="health",
)
async def prometheus_metrics(request: GatewayRequest):
    await read_gauges(request.app.ctx)
    return raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)


async def read_gauges(gateway: Gateway) -> None:
    metrics.ACTIVE_TURNS.set(gateway.hub.active_turns)
    metrics.POOLED.set(gateway.pools.ready)
    try:
        containers = await gateway.lifecycle.containers()
    except ApplianceError as exc:  # the engine is away: the other metrics still answer
        log.warning("/metrics without container counts: %s", exc.message)
        return
    counts = Counter((c.labels.get(labels.KIND, "unknown"), c.status) for c in containers)
    metrics.CONTAINERS.clear()
    for (kind, state), count in counts.items():
        metrics.CONTAINERS.labels(kind, state).set(count)
