"""Counting every HTTP request by route, method and status, with its latency (appliance/metrics.py)."""

from __future__ import annotations

import time

from sanic import HTTPResponse, Request, Sanic

from appliance import metrics
from appliance.http.tracing import route_of

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def setup_request_metrics(app: Sanic) -> None:
    @app.on_request
    async def started(request: Request) -> None:
        request.ctx.started = time.perf_counter()

    @app.on_response
    async def answered(request: Request, response: HTTPResponse) -> None:
        # Requests no route took are one series, whatever their path; so are unusual methods.
        route = route_of(request) or "unmatched"
        method = request.method if request.method in METHODS else "other"
        metrics.HTTP_REQUESTS.labels(route, method, str(response.status)).inc()
        if (started := getattr(request.ctx, "started", None)) is not None:
            metrics.HTTP_SECONDS.labels(route, method).observe(time.perf_counter() - started)
