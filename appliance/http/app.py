"""create_app(gateway): the gateway's Sanic application, with one setup_* function per concern."""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.exceptions import SanicException

from appliance import __version__, messages
from appliance.errors import ApplianceError, PayloadTooLarge, TooManyRequests
from appliance.gateway import Gateway
from appliance.http.auth import setup_auth
from appliance.http.bodies import MAX_BODY_BYTES, body_limit_of
from appliance.http.console import setup_console
from appliance.http.context import App
from appliance.http.docs import setup_docs
from appliance.http.envelope import failure
from appliance.http.request_metrics import setup_request_metrics
from appliance.http.routes import (
    agent,
    computer,
    computer_agent,
    files,
    git,
    health,
    metrics,
    model,
    proxy,
    templates,
)
from appliance.http.tracing import setup_request_spans
from appliance.messages import translate

log = logging.getLogger("rcoder.gateway")


def create_app(gateway: Gateway, name: str = "rcoder") -> App:
    app: App = Sanic(name, ctx=gateway, configure_logging=False)
    # Open SSE streams would otherwise hold a restart for 15 s; clients reconnect with Last-Event-ID.
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 2.0
    setup_request_spans(app)
    setup_request_metrics(app)
    setup_language(app)
    setup_docs(app, version=__version__)
    setup_console(app)
    setup_auth(app, gateway.api_key, gateway.config.proxy_config.control_host)
    setup_body_limits(app)
    setup_lifecycle(app)
    setup_errors(app)
    blueprints = (
        health.bp,
        metrics.bp,
        agent.bp,
        proxy.bp,
        computer.bp,
        computer_agent.bp,
        files.bp,
        git.bp,
        model.bp,
        templates.bp,
    )
    for blueprint in blueprints:
        app.blueprint(blueprint)
    return app


def setup_body_limits(app: App) -> None:
    """Refuse a body beyond its route's limit (bodies.body_limit) with 413; nothing reads more than the
    largest limit (nginx in front stops larger bodies before they reach the gateway)."""
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES

    @app.on_request
    async def body_limit(request: Request) -> None:
        if request.route is None:
            return
        limit = body_limit_of(request.route.path)
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else len(request.body or b"")
        if size > limit:
            raise PayloadTooLarge(
                "the request body has {size} bytes; {route} takes at most {limit}",
                size=size,
                route=f"{request.method} /{request.route.path}",
                limit=limit,
            )


def setup_lifecycle(app: App) -> None:
    """Start the gateway's parts with the server, and close them after it."""

    @app.before_server_start
    async def start(app: App) -> None:
        await app.ctx.start()

    @app.after_server_stop
    async def close(app: App) -> None:
        await app.ctx.close()


def setup_errors(app: App) -> None:
    """Render every error in the seed's envelope, with its real HTTP status."""

    @app.exception(ApplianceError)
    async def appliance_error(request: Request, exc: ApplianceError):
        if not exc.quiet:
            log.error("%s %s failed: %s", request.method, request.path, exc.message)
        response = failure(exc.status_code, exc.code, exc.localized())
        if isinstance(exc, TooManyRequests):
            response.headers["retry-after"] = str(exc.retry_after)
        return response

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException):
        response = failure(exc.status_code, str(exc.status_code), sanic_message(request, exc))
        response.headers.update(exc.headers or {})  # a 405's Allow, for one
        if exc.status_code == 405 and "allow" not in response.headers:
            # Sanic names none for a path whose methods are routes of their own (the files API's).
            response.headers["allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        log.exception("%s %s failed unexpectedly", request.method, request.path)
        message = translate("internal error: {kind}; see the gateway's log", kind=type(exc).__name__)
        return failure(500, ApplianceError.code, message)


def allowed_methods(request: Request) -> list[str]:
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return allowed


def sanic_message(request: Request, exc: SanicException) -> str:
    """Sanic's own refusals, worded as the gateway's (in the request's language)."""
    if exc.status_code == 404:
        return translate("no route {path}", path=request.path)
    if exc.status_code == 405:
        return translate("method {method} is not allowed on {path}", method=request.method, path=request.path)
    if exc.status_code == 413:
        return translate("the request body is larger than the gateway takes")
    return translate("the request could not be handled: {detail}", detail=str(exc))


def setup_language(app: App) -> None:
    """Answer each request in the language its accept-language header asks for (appliance/messages.py)."""

    @app.on_request
    async def choose_language(request: Request) -> None:
        messages.current.set(messages.language(request.headers.get("accept-language")))
