"""create_app(config): the gateway's Sanic application, with one setup_* function per concern."""

from __future__ import annotations

import logging
from pathlib import Path

from sanic import Request, Sanic
from sanic.exceptions import SanicException

from appliance import labels
from appliance.config import Config
from appliance.engine import Engine
from appliance.envelope import failure
from appliance.errors import ApplianceError
from appliance.lifecycle import Lifecycle
from appliance.routes import agent, health
from appliance.runner_client import RunnerClient
from appliance.store import Store

log = logging.getLogger("rcoder.gateway")


def create_app(config: Config, name: str = "rcoder") -> Sanic:
    app = Sanic(name, configure_logging=False)
    app.ctx.config = config
    setup_state(app, config)
    setup_errors(app)
    app.blueprint(health.bp)
    app.blueprint(agent.bp)
    return app


def setup_state(app: Sanic, config: Config) -> None:
    """Open the store, the engine and the runner client when the server starts; close them after."""

    @app.before_server_start
    async def open_state(app: Sanic) -> None:
        docker = config.docker_config
        app.ctx.store = Store(Path(config.state_dir) / "rcoder.duckdb")
        await app.ctx.store.open()
        app.ctx.engine = Engine(docker.host, docker.network_base_name, docker.api_timeout_seconds)
        await app.ctx.engine.ensure_network(labels.labels_for(docker.stack, "network"))
        app.ctx.runners = RunnerClient()
        app.ctx.lifecycle = Lifecycle(config, app.ctx.engine, app.ctx.runners, app.ctx.store)
        log.info(
            "gateway ready: stack %s, network %s, agent image %s",
            docker.stack,
            docker.network_base_name,
            docker.agent_image,
        )

    @app.after_server_stop
    async def close_state(app: Sanic) -> None:
        await app.ctx.runners.close()
        await app.ctx.engine.close()
        await app.ctx.store.close()


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
