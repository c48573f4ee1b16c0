"""Short-lived signed tokens that open one project's previews (or one user's desktop) in a browser,
so that a tab never holds the API key.

A token is `<payload>.<signature>`: the payload (base64url JSON) names its scope and expiry, the
signature is an HMAC-SHA256 of it with the appliance's token secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from pathlib import Path

from appliance.projects import ProjectRef

log = logging.getLogger(__name__)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def project_scope(project_id: str) -> str:
    return f"project:{project_id}"


def desktop_scope(user_id: str) -> str:
    return f"desktop:{user_id}"


def files_scope(ref: ProjectRef) -> str:
    """A token that opens one project's files (a preview's token does not)."""
    return f"files:{ref.key}"


def terminal_scope(ref: ProjectRef) -> str:
    """A token that opens a shell in one project's container."""
    return f"terminal:{ref.key}"


class Tokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, scope: str, ttl_seconds: int) -> tuple[str, int]:
        """A token for `scope`, and when it expires (unix seconds)."""
        expires = int(time.time()) + ttl_seconds
        payload = _b64(json.dumps({"scope": scope, "exp": expires}, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", expires

    def allows(self, token: str | None, scope: str) -> bool:
        """Whether `token` is genuine, unexpired and for exactly `scope`."""
        if not token or token.count(".") != 1:
            return False
        payload, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return False
        try:
            claims = json.loads(_unb64(payload))
        except ValueError:
            return False
        return claims.get("scope") == scope and claims.get("exp", 0) > time.time()


def load_secret(configured: str, state_dir: Path) -> bytes:
    """The configured secret, else one generated at first start and kept (mode 0600) in the state dir."""
    if configured:
        return configured.encode()
    path = state_dir / "token_secret"
    if not path.exists():
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:  # a read-only state: tokens last until the gateway restarts
            log.error("the token secret cannot be kept (%s): tokens issued now end with this process", exc)
            return secrets.token_urlsafe(48).encode()
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def derive(secret: bytes, purpose: str) -> bytes:
    """A key of its own for `purpose`, from the appliance's secret (no key signs two kinds of thing)."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()
