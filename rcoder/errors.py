"""The client's errors: one tree. An error reply of the appliance (the seed's envelope: code, message,
tid) becomes the most specific class its code or HTTP status names; httpx's errors become
`TransportError` at the one place requests are made (`rcoder/client.py`).

    RCoderError
    ├── ConfigError              the client's own settings are wrong (URL, key file, config file)
    ├── TransportError           the appliance could not be reached, or the connection broke for good
    ├── FileChanged              a file changed while a cut download of it was being resumed
    ├── TerminalClosed           a terminal closed without its shell's exit status
    └── APIError                 an error reply: .status_code, .code, .message, .tid
        ├── BadRequest           400 (the message names the field)
        ├── Unauthorized         401 (missing or wrong API key)
        ├── Forbidden            403
        ├── NotFound             404
        │   ├── SessionNotFound  404 SESSION_NOT_FOUND
        │   └── ProjectNotFound  404 CONTAINER_NOT_FOUND
        ├── Conflict             409 (the session is already running a turn; a folder not empty)
        ├── PayloadTooLarge      413 (an upload past a limit of the appliance)
        ├── TooManyRequests      429 (a rate limit, or too many terminals open)
        ├── ContainerFailed      502 CONTAINER_ERROR (the project's container did not start)
        ├── Unavailable          503, or a proxy's 502/504 (the engine, a runner or the gateway is down)
        └── WorkspaceFull        507 WORKSPACE_FULL (the workspace's quota is used up: nothing was written)
"""

from __future__ import annotations

import json


class RCoderError(Exception):
    """Anything that went wrong talking to an appliance."""


class ConfigError(RCoderError):
    """The client's settings are wrong."""


class TransportError(RCoderError):
    """The appliance could not be reached, or a connection broke and could not be re-established."""


class FileChanged(RCoderError):
    """A file was replaced while it was read in parts: what was read is no longer one file's bytes."""


class TerminalClosed(RCoderError):
    """A terminal's connection closed without the shell's exit status (an idle timeout, a broken link)."""


class APIError(RCoderError):
    """An error reply. `code` is the envelope's (e.g. "9010"), `tid` its trace id (for the gateway's log)."""

    def __init__(self, message: str, *, status_code: int, code: str = "", tid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.tid = tid

    def __str__(self) -> str:
        trace = f", trace {self.tid}" if self.tid else ""
        return f"{self.message} (HTTP {self.status_code}, code {self.code or '-'}{trace})"


class BadRequest(APIError):
    pass


class Unauthorized(APIError):
    pass


class Forbidden(APIError):
    pass


class NotFound(APIError):
    pass


class SessionNotFound(NotFound):
    pass


class ProjectNotFound(NotFound):
    pass


class Conflict(APIError):
    pass


class PayloadTooLarge(APIError):
    pass


class TooManyRequests(APIError):
    pass


class ContainerFailed(APIError):
    pass


class Unavailable(APIError):
    pass


class WorkspaceFull(APIError):
    pass


# The envelope's code is more specific than the status, so it is looked up first.
BY_CODE: dict[str, type[APIError]] = {
    "SESSION_NOT_FOUND": SessionNotFound,
    "CONTAINER_NOT_FOUND": ProjectNotFound,
    "CONTAINER_ERROR": ContainerFailed,
    "4010": Unauthorized,
    "9010": Conflict,
    "WORKSPACE_FULL": WorkspaceFull,
}
BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: TooManyRequests,
    502: ContainerFailed,
    503: Unavailable,
    504: Unavailable,
    507: WorkspaceFull,
}
# Statuses a proxy answers on its own when the gateway is down: retried by a following turn.
RETRYABLE_STATUSES = frozenset({502, 503, 504})


def error_for(status_code: int, body: bytes) -> APIError:
    """The error an error reply stands for: from its envelope, or from its status when it has none
    (a proxy's own error page)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and "code" in envelope and "message" in envelope:
        code = str(envelope["code"])
        cls = BY_CODE.get(code) or BY_STATUS.get(status_code, APIError)
        return cls(str(envelope["message"]), status_code=status_code, code=code, tid=envelope.get("tid"))
    cls = Unavailable if status_code in RETRYABLE_STATUSES else BY_STATUS.get(status_code, APIError)
    text = body.decode(errors="replace").strip()[:200] or "no body"
    return cls(f"the appliance answered {status_code}: {text}", status_code=status_code)
