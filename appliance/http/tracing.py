"""Tracing of HTTP requests: a server span per request, continuing the caller's W3C traceparent.

The runner client's gRPC interceptors (rcoder_rpc.tracing) carry the trace on into the runner,
so one trace follows a chat from the HTTP request to the agent's turn.
"""

from __future__ import annotations

import functools
import re

from opentelemetry import context, trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, Status, StatusCode
from sanic import HTTPResponse, Request, Sanic


def route_of(request: Request) -> str | None:
    """The request's route as the API docs write it (/agent/progress/{session_id}); None: no route."""
    return _as_documented(request.route.path) if request.route else None


@functools.cache
def _as_documented(route_path: str) -> str:
    """Sanic's route path written as the API docs write it; once per route (the span and the request
    metrics both ask, on every request)."""
    return re.sub(r"<(\w+)(:[^>]*)?>", r"{\1}", f"/{route_path}")


def setup_request_spans(app: Sanic) -> None:
    """Register the span middleware; call it before any other middleware so that it wraps them."""
    tracer = trace.get_tracer("rcoder.gateway")

    @app.on_request
    async def start_span(request: Request) -> None:
        route = route_of(request) or request.path
        span = tracer.start_span(
            f"{request.method} {route}",
            context=extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "url.path": request.path, "http.route": route},
        )
        request.ctx.span = span
        request.ctx.trace_token = context.attach(trace.set_span_in_context(span))

    @app.on_response
    async def end_span(request: Request, response: HTTPResponse) -> None:
        span = getattr(request.ctx, "span", None)
        if span is None:
            return
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        context.detach(request.ctx.trace_token)
