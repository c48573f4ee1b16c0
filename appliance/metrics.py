"""The gateway's Prometheus metrics, served at GET /metrics (with the process's own, from
prometheus-client's default registry). The gateway's parts count into these as things happen; the
gauges of what exists now (containers, turns) are read when /metrics is asked for. Labels are routes,
kinds and outcomes, never project or user ids, so the number of series stays small.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds: from a pooled claim (~0.05) to a cold start under load (~10).
START_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "rcoder_http_requests_total",
    "HTTP requests answered, by route, method and status",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "rcoder_http_request_duration_seconds",
    "Time to answer an HTTP request (an SSE stream: until its headers), by route and method",
    ["route", "method"],
)
CONTAINER_STARTS = Counter(
    "rcoder_container_starts_total",
    "Containers asked for, by kind, source (pool: claimed from the warm pool; new) and outcome "
    "(started, failed, refused: a limit or an unwritable state)",
    ["kind", "source", "outcome"],
)
CONTAINER_START_SECONDS = Histogram(
    "rcoder_container_start_duration_seconds",
    "Time until a started container's runner served, by kind and source",
    ["kind", "source"],
    buckets=START_BUCKETS,
)
CONTAINERS = Gauge(
    "rcoder_containers", "Agent and desktop containers of this stack, by kind and state", ["kind", "state"]
)
POOLED = Gauge("rcoder_pool_ready_containers", "Warm-pool containers ready to be claimed")
ACTIVE_TURNS = Gauge("rcoder_active_turns", "Turns running now")
SSE_STREAMS = Gauge("rcoder_sse_streams_open", "SSE streams open now")
EVENTS = Counter("rcoder_events_appended_total", "Session events received from the runners")
PROXY_DECISIONS = Counter(
    "rcoder_proxy_decisions_total",
    "Routing decisions for the proxy, by outcome (admitted, or the refusal's status)",
    ["outcome"],
)
CLEANUP_REMOVALS = Counter(
    "rcoder_cleanup_removals_total",
    "Containers the cleanup paused or removed, by kind and action",
    ["kind", "action"],
)
RUNNER_ERRORS = Counter(
    "rcoder_runner_rpc_errors_total",
    "Failed gRPC calls to runners, by method and status code",
    ["method", "code"],
)
GIT_FORWARDS = Counter(
    "rcoder_git_forwards_total",
    "Containers' git requests to the broker, by service and outcome (the server's status, refused or unreachable)",
    ["service", "outcome"],
)
MODEL_REQUESTS = Counter(
    "rcoder_model_requests_total",
    "Agents' requests forwarded to their model provider, by outcome (the provider's status, or unreachable)",
    ["outcome"],
)
