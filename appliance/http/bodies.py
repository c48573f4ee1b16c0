"""The gateway's side of the request bodies (rcoder_wire/bodies.py): each route's size limit, the
wrappers that turn a refused body or id into a 400, and what the lifecycle takes of a body."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from appliance.containers.limits import Bounds, Limits
from appliance.errors import BadRequest
from appliance.projects import Pod
from appliance.template_builds import MAX_UPLOAD_BYTES
from rcoder_wire import bodies as wire

# The largest body a route takes (bytes): a prompt with its attachments, else a small JSON object.
CHAT_BODY_BYTES = 50 * 1024 * 1024  # the seed's limit
DEFAULT_BODY_BYTES = 64 * 1024
# An agent's request to its model carries the conversation so far, attachments included.
BODY_LIMITS = {
    "chat": CHAT_BODY_BYTES,
    "computer/chat": CHAT_BODY_BYTES,
    "internal/model/<path:path>": CHAT_BODY_BYTES,
    # Uploads through the gateway's own port; the proxy sends larger ones to the files container.
    **{
        f"{files}/{endpoint}": CHAT_BODY_BYTES
        for files in ("agent/files/<project_id:str>", "computer/files/<user_id:str>/<project_id:str>")
        for endpoint in ("raw", "archive")
    },
}
MAX_BODY_BYTES = max(BODY_LIMITS.values())
# Streamed routes read their bodies themselves, bounded as they read; one whose Content-Length says it
# is larger is refused at once. Sanic never holds such a body: MAX_BODY_BYTES leaves them out.
STREAMED_BODY_LIMITS = {"templates": MAX_UPLOAD_BYTES}


def body_limit_of(route_path: str) -> int:
    """The largest body the route (Sanic's path, "chat") takes, in bytes."""
    return BODY_LIMITS.get(route_path) or STREAMED_BODY_LIMITS.get(route_path, DEFAULT_BODY_BYTES)


@contextlib.contextmanager
def refused() -> Iterator[None]:
    """A body or id the wire models refuse is the client's mistake: a BadRequest with the same message."""
    try:
        yield
    except wire.InvalidBody as exc:
        raise BadRequest(exc.template, **exc.params) from None


def parse(model: type[wire.M], data: object, bounds: Bounds | None = None) -> wire.M:
    """Validate a request body (resource limits within `bounds`), or raise BadRequest naming each
    offending field."""
    with refused():
        return wire.parse(model, data, bounds)


def check_id(value: str, pattern: str = wire.ID_PATTERN, what: str = "project_id") -> str:
    with refused():
        return wire.check_id(value, pattern, what)


def whole_number(raw: str, name: str, low: int, high: int) -> int:
    """A query or header value that must be a whole number from `low` to `high` (digits only: no sign,
    no blank), or BadRequest naming it."""
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(
            "{name} must be a whole number from {low} to {high}, got {raw!r}",
            name=name,
            low=low,
            high=high,
            raw=raw[:40],
        )
    return int(raw)


def limits_of(limits: wire.ResourceLimits | None) -> Limits | None:
    """The engine's limits for a new container, from a body's resource_limits."""
    if limits is None:
        return None
    return Limits(
        memory_bytes=limits.memory_limit, cpus=limits.cpu_limit, memory_swap_bytes=limits.swap_limit
    )


def chat_limits(body: wire.ChatFields) -> Limits | None:
    return limits_of(body.agent_config.resource_limits if body.agent_config else None)


def pod_of(body: wire.ChatBody, project_id: str) -> Pod | None:
    """The pod the body places the project in, if it names one."""
    if body.pod_id is None or body.tenant_id is None or body.space_id is None:
        return None
    return Pod.of(body.pod_id, body.tenant_id, body.space_id, project_id)
