"""Tracing shared by the gateway and the runner: one trace follows a chat across gRPC.

OpenTelemetry is configured by the standard OTEL_* variables (the SDK reads them): spans are
exported with OTLP when an endpoint is set. The W3C traceparent travels in gRPC metadata
through the interceptors below. The runner imports this only when tracing is asked for.
"""

from __future__ import annotations

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def setup_tracing(service_name: str, otlp_endpoint: str | None) -> None:
    """Install the process's tracer provider (once), exporting spans to `otlp_endpoint` if given.

    OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over `service_name`.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # already set up (the SDK allows it once per process)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    return aio_client_interceptors()


def server_interceptor() -> grpc.aio.ServerInterceptor:
    return aio_server_interceptor()


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
