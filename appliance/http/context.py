"""The typed application and request the routes receive: `request.app.ctx` is the Gateway. (Sanic's
per-request `request.ctx` carries only the request's trace span, set in tracing.py.)"""

from __future__ import annotations

from typing import Any, TypeAlias

from sanic import Request, Sanic
from sanic.config import Config as SanicConfig

from appliance.gateway import Gateway

App: TypeAlias = Sanic[SanicConfig, Gateway]
GatewayRequest: TypeAlias = Request[App, Any]
