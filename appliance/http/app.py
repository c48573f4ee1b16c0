"""create_app(config): the gateway's Sanic application, with one setup_* function per concern."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from sanic import Request, Sanic
from sanic.exceptions import SanicException

from appliance import __version__, labels
from appliance.auth import setup_auth
from appliance.cleanup import Cleanup
from appliance.config import Config, read_api_key, read_secret
from appliance.docs import setup_docs
from appliance.engine import Engine
from appliance.envelope import failure
from appliance.errors import ApplianceError
from appliance.events import EventHub
from appliance.firewall import Firewall, FirewallError
from appliance.lifecycle import Lifecycle
from appliance.reconcile import Reconciler
from appliance.routes import agent, computer, computer_agent, health, proxy
from appliance.routing import Router
from appliance.runner_client import RunnerClient
from appliance.store import Store
from appliance.telemetry import setup_telemetry
from appliance.tokens import Tokens, load_secret

log = logging.getLogger("rcoder.gateway")


def create_app(config: Config, name: str = "rcoder") -> Sanic:
    app = Sanic(name, configure_logging=False)
    # Open SSE streams would otherwise hold a restart for 15 s; clients reconnect with Last-Event-ID.
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 2.0
    app.ctx.config = config
    setup_telemetry(app)
    setup_docs(app, version=__version__)
    app.ctx.api_key = read_api_key(config.api_key_auth)
    setup_auth(app, app.ctx.api_key)
    setup_state(app, config)
    setup_errors(app)
    app.blueprint(health.bp)
    app.blueprint(agent.bp)
    app.blueprint(proxy.bp)
    app.blueprint(computer.bp)
    app.blueprint(computer_agent.bp)
    return app


def token_secret(config: Config) -> tuple[str, str, str]:
    proxy = config.proxy_config
    return proxy.token_secret, proxy.token_secret_file, "proxy_config.token_secret_file"


def setup_state(app: Sanic, config: Config) -> None:
    """Open the store, the engine and the runner client when the server starts, adopt what runs,
    and start the background tasks; stop and close everything after."""

    @app.before_server_start
    async def open_state(app: Sanic) -> None:
        docker = config.docker_config
        ctx = app.ctx
        ctx.store = Store(Path(config.state_dir) / "rcoder.duckdb")
        await ctx.store.open()
        ctx.engine = Engine(docker.host, docker.api_timeout_seconds)
        bridges = [
            await ctx.engine.ensure_network(network, labels.labels_for(docker.stack, "network"))
            for network in (docker.network_base_name, docker.desktop_network)
        ]
        ctx.runners = RunnerClient()
        ctx.lifecycle = Lifecycle(config, ctx.engine, ctx.runners, ctx.store)
        ctx.lifecycle.isolation_problem = await isolate(config, bridges)
        ctx.tokens = Tokens(load_secret(read_secret(*token_secret(config)), Path(config.state_dir)))
        ctx.router = Router(config, ctx.tokens)
        ctx.hub = EventHub(ctx.store, ctx.runners)
        await ctx.hub.start()
        reconciler = Reconciler(docker.stack, ctx.engine, ctx.lifecycle, ctx.hub, ctx.store)
        await reconciler.adopt()
        ctx.tasks = [asyncio.create_task(reconciler.watch(), name="reconcile")]
        if config.cleanup_config.enabled and docker.auto_cleanup:
            cleanup = Cleanup(
                config.cleanup_config, docker.container_ttl_seconds, ctx.store, ctx.lifecycle, ctx.runners
            )
            ctx.tasks.append(asyncio.create_task(cleanup.run(), name="cleanup"))
        if not config.api_key_auth.enabled:
            log.warning(
                "API key authentication is off: anyone who reaches port %s can use this appliance",
                config.port,
            )
        log.info(
            "gateway ready: stack %s, network %s, agent image %s",
            docker.stack,
            docker.network_base_name,
            docker.agent_image,
        )

    @app.after_server_stop
    async def close_state(app: Sanic) -> None:
        ctx = app.ctx
        for task in ctx.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ctx.hub.close()
        await ctx.runners.close()
        await ctx.engine.close()
        await ctx.store.close()


async def isolate(config: Config, bridges: list[str]) -> str | None:
    """Install the host firewall for the stack's bridges; what went wrong, if it could not be."""
    if not config.docker_config.host_firewall:
        log.warning("host_firewall is off: agent and desktop containers can reach this host's services")
        return None
    try:
        await Firewall(config.docker_config.stack).install(bridges)
    except FirewallError as exc:
        log.error("cannot isolate containers from the host, so none will be started: %s", exc)
        return str(exc)
    return None


def setup_errors(app: Sanic) -> None:
    """Render every error in the seed's envelope, with its real HTTP status."""

    @app.exception(ApplianceError)
    async def appliance_error(request: Request, exc: ApplianceError):
        if not exc.quiet:
            log.error("%s %s failed: %s", request.method, request.path, exc.message)
        return failure(exc.status_code, exc.code, exc.message)

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException):
        return failure(exc.status_code, str(exc.status_code), str(exc))

    @app.exception(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        log.exception("%s %s failed unexpectedly", request.method, request.path)
        return failure(
            500, ApplianceError.code, f"internal error: {type(exc).__name__}; see the gateway's log"
        )
