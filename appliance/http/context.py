"""The typed application and request the routes receive: `request.app.ctx` is the Gateway."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TypeAlias

from sanic import Request, Sanic
from sanic.config import Config as SanicConfig

from appliance.gateway import Gateway

App: TypeAlias = Sanic[SanicConfig, Gateway]
GatewayRequest: TypeAlias = Request[App, SimpleNamespace]
