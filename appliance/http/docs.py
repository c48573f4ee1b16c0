"""API documentation: OpenAPI 3 built from the routes (sanic-ext), and Swagger UI at /api/docs.

Swagger UI's assets come from the swagger-ui-bundle package and are served by the gateway
itself, so the docs work with no internet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from pydantic import BaseModel
from sanic import HTTPResponse, Request, Sanic
from sanic_ext import Extend, openapi
from sanic_ext.extensions.openapi.extension import OpenAPIExtension

from appliance.http.replies import ErrorReply

DOCS_PREFIX = "/api/docs"
ASSETS = f"{DOCS_PREFIX}/assets"
SPEC_PATH = f"{DOCS_PREFIX}/openapi.json"
SWAGGER_PAGE = Path(__file__).with_name("swagger.html")


def setup_docs(app: Sanic, version: str) -> None:
    Extend(
        app,
        extensions=[OpenAPIExtension],
        built_in_extensions=False,
        config={
            "oas_url_prefix": DOCS_PREFIX,
            "oas_ui_default": "swagger",
            "oas_ui_redoc": False,
            "oas_path_to_swagger_html": str(SWAGGER_PAGE),
            "oas_ui_swagger_cdn_url": ASSETS,
            "oas_ui_swagger_version": "",
            "oas_ui_swagger_html_title": "RCoder API",
        },
    )
    app.static(ASSETS, swagger_ui_bundle.swagger_ui_path, name="swagger_assets")
    app.ext.openapi.describe(
        "RCoder appliance API",
        version=version,
        description=(
            "AI coding agents in per-project containers. Send a prompt with POST /chat, then stream the "
            "turn from GET /agent/progress/{session_id} (Server-Sent Events; reconnect with Last-Event-ID)."
        ),
    )
    app.ext.openapi.add_security_scheme("api_key", "apiKey", location="header", name="x-api-key")
    app.ext.openapi.secured("api_key")

    @app.on_response
    async def declare_openapi_31(request: Request, response: HTTPResponse) -> None:
        """sanic-ext labels its document 3.0.3, but pydantic writes its schemas in JSON Schema
        2020-12 (`{"type": "null"}`), which is OpenAPI 3.1's dialect: say so, so that validators
        and Swagger UI read it right."""
        if request.path == SPEC_PATH and response.status == 200:
            spec = json.loads(response.body)
            spec["openapi"] = "3.1.0"
            response.body = json.dumps(spec).encode()
            response.headers["content-length"] = str(len(response.body))


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": openapi.definitions.Component(model)}


def responses(ok: type[BaseModel] | None, *errors: int) -> list[openapi.definitions.Response]:
    """The documented responses of a route: its success body and its error statuses."""
    out = []
    if ok is not None:
        out.append(openapi.definitions.Response(json_body(ok), status=200))
    for status in errors:
        out.append(
            openapi.definitions.Response(json_body(ErrorReply), status=status, description=ERRORS[status])
        )
    return out


ERRORS = {
    400: "invalid request: the message names the field",
    401: "missing or wrong x-api-key",
    404: "no such session or project",
    409: "the session is already running a turn",
    502: "the project's container did not start",
    503: "the Docker engine or the project's runner is unavailable",
}
