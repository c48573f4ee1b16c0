"""API key authentication: the `x-api-key` header on every route but the seed's exempt ones."""

from __future__ import annotations

import hmac

from sanic import Request, Sanic

from appliance.errors import Unauthorized

EXEMPT_PATHS = frozenset({"/health", "/metrics", "/api/docs", "/proxy/status", "/proxy/stats"})
# /internal/ routes are the proxy's: they check credentials themselves (and nginx hides them).
EXEMPT_PREFIXES = ("/api/docs/", "/internal/")


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def key_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so that response timing does not leak the key."""
    return hmac.compare_digest((given or "").encode(), expected.encode())


def setup_auth(app: Sanic, api_key: str) -> None:
    """Require `api_key` on every non-exempt request (no-op when the key is empty: auth disabled)."""
    if not api_key:
        return

    @app.on_request
    async def require_api_key(request: Request) -> None:
        if not is_exempt(request.path) and not key_matches(request.headers.get("x-api-key"), api_key):
            raise Unauthorized("missing or wrong API key: send it in the x-api-key header")
