"""The gateway's errors. Each carries its HTTP status and the seed's error code; one handler
renders them all in the seed's envelope.

    ApplianceError               500 UNKNOWN_ERROR
    ├── BadRequest               400 VALIDATION_ERROR
    │   └── TemplateRefused      400 TEMPLATE_REFUSED (an image that cannot be a template's)
    ├── Unauthorized             401 4010
    ├── Forbidden                403 FORBIDDEN
    ├── NotFound                 404 NOT_FOUND
    │   ├── SessionNotFound      404 SESSION_NOT_FOUND
    │   ├── ProjectNotFound      404 CONTAINER_NOT_FOUND
    │   └── TemplateNotFound     404 TEMPLATE_NOT_FOUND
    ├── Conflict                 409 9010 (the agent is busy)
    │   └── TemplateNotReady     409 TEMPLATE_NOT_READY (being built, or its build failed)
    ├── PayloadTooLarge          413 PAYLOAD_TOO_LARGE (a body beyond its route's limit)
    ├── TooManyRequests          429 TOO_MANY_REQUESTS (a rate or container limit; with Retry-After)
    ├── EngineUnavailable        503 SERVICE_UNAVAILABLE (Docker engine)
    │   └── IsolationUnavailable 503 SERVICE_UNAVAILABLE (the host firewall is not in place)
    ├── StateUnavailable         503 SERVICE_UNAVAILABLE (the state volume is full or read-only)
    ├── ProxyUnavailable         503 SERVICE_UNAVAILABLE (the proxy's control port does not answer)
    ├── RunnerUnavailable        503 GRPC_ERROR (the container's runner)
    ├── ContainerFailed          502 CONTAINER_ERROR (the container did not start)
    ├── ModelProviderFailed      502 MODEL_PROVIDER_ERROR (an agent's model provider is unreachable)
    └── GitServerFailed          502 GIT_SERVER_ERROR (a git server the broker forwards to is unreachable)
"""

from typing import Any

from appliance.messages import translate


class ApplianceError(Exception):
    status_code = 500
    code = "UNKNOWN_ERROR"
    # 4xx errors are the client's; they are not logged as failures of ours.
    quiet = False

    def __init__(self, template: str, **params: Any) -> None:
        """`template`: the English message, with {fields} filled from `params` (see messages.py)."""
        self.template, self.params = template, params
        self.message = template.format(**params) if params else template
        super().__init__(self.message)

    def localized(self) -> str:
        """The message in the language of the request being answered."""
        return translate(self.template, **self.params)


class BadRequest(ApplianceError):
    status_code = 400
    code = "VALIDATION_ERROR"
    quiet = True


class TemplateRefused(BadRequest):
    code = "TEMPLATE_REFUSED"


class Unauthorized(ApplianceError):
    status_code = 401
    code = "4010"
    quiet = True


class Forbidden(ApplianceError):
    status_code = 403
    code = "FORBIDDEN"
    quiet = True


class NotFound(ApplianceError):
    status_code = 404
    code = "NOT_FOUND"
    quiet = True


class SessionNotFound(NotFound):
    code = "SESSION_NOT_FOUND"


class ProjectNotFound(NotFound):
    code = "CONTAINER_NOT_FOUND"


class TemplateNotFound(NotFound):
    code = "TEMPLATE_NOT_FOUND"


class Conflict(ApplianceError):
    status_code = 409
    code = "9010"
    quiet = True


class TemplateNotReady(Conflict):
    code = "TEMPLATE_NOT_READY"


class PayloadTooLarge(ApplianceError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    quiet = True


class TooManyRequests(ApplianceError):
    status_code = 429
    code = "TOO_MANY_REQUESTS"
    quiet = True

    def __init__(self, template: str, retry_after: int, **params: Any) -> None:
        super().__init__(template, **params)
        self.retry_after = retry_after


class EngineUnavailable(ApplianceError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class IsolationUnavailable(EngineUnavailable):
    """Containers would not be isolated from the host, so none is started."""


class WorkspaceUnavailable(EngineUnavailable):
    """A workspace lives on one swarm node, and that node cannot run it now."""


class StateUnavailable(ApplianceError):
    """The gateway cannot write its state, so it takes no new work (what runs goes on)."""

    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class ProxyUnavailable(ApplianceError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


class RunnerUnavailable(ApplianceError):
    status_code = 503
    code = "GRPC_ERROR"


class ContainerFailed(ApplianceError):
    status_code = 502
    code = "CONTAINER_ERROR"


class ModelProviderFailed(ApplianceError):
    status_code = 502
    code = "MODEL_PROVIDER_ERROR"


class GitServerFailed(ApplianceError):
    status_code = 502
    code = "GIT_SERVER_ERROR"
