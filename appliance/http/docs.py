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
from sanic import HTTPResponse, Request
from sanic_ext import Extend, openapi
from sanic_ext.extensions.openapi.extension import OpenAPIExtension

from appliance.gateway import Gateway
from appliance.http.auth import is_exempt
from appliance.http.bodies import body_limit_of
from appliance.http.context import App
from appliance.http.sse import MAX_EVENT_ID
from appliance.template_builds import KINDS
from rcoder_wire.bodies import FILES_PATH_PATTERN, ID_PATTERN, SESSION_ID_PATTERN
from rcoder_wire.contract import TEMPLATE_NAME_PATTERN
from rcoder_wire.replies import ErrorReply

DOCS_PREFIX = "/api/docs"
ASSETS = f"{DOCS_PREFIX}/assets"
SPEC_PATH = f"{DOCS_PREFIX}/openapi.json"
SWAGGER_PAGE = Path(__file__).with_name("swagger.html")


# The `path` of /raw: a file (or, to remove, a folder) beneath the top, named by no `.` or `..`.
_NAMED = r"(?:[^/.\x00][^/\x00]*|\.[^/.\x00][^/\x00]*|\.\.[^/\x00]+)"
FILE_PATH = {"type": "string", "maxLength": 1024, "pattern": f"^/?{_NAMED}(?:/{_NAMED})*$"}
# What the routes accept in each path, query and header parameter, by name (the validators say the same).
PARAMETERS: dict[str, dict[str, Any]] = {
    "project_id": {"type": "string", "pattern": ID_PATTERN},
    "user_id": {"type": "string", "pattern": ID_PATTERN},
    "session_id": {"type": "string", "pattern": SESSION_ID_PATTERN},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "last_event_id": {"type": "integer", "minimum": 0, "maximum": MAX_EVENT_ID},
    "Last-Event-ID": {"type": "integer", "minimum": 0, "maximum": MAX_EVENT_ID},
    # The files API's (runner/files/request.py reads them).
    "path": {"type": "string", "maxLength": 1024, "pattern": FILES_PATH_PATTERN},
    "after": {"type": "string"},
    "format": {"type": "string", "enum": ["tar", "tar.gz", "zip"]},
    "parents": {"type": "string", "enum": ["true", "false", "1", "0"]},
    "recursive": {"type": "string", "enum": ["true", "false", "1", "0"]},
    "download": {"type": "string", "enum": ["true", "false", "1", "0"]},
    # The templates' (appliance/http/routes/templates.py).
    "name": {"type": "string", "pattern": TEMPLATE_NAME_PATTERN},
    "kind": {"type": "string", "enum": list(KINDS)},
    "description": {"type": "string", "maxLength": 500},
}


def setup_docs(app: App, version: str) -> None:
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

    finished: dict[str, bytes] = {}

    @app.on_response
    async def finish_the_document(request: Request, response: HTTPResponse) -> None:
        if request.path == SPEC_PATH and response.status == 200:
            if "spec" not in finished:
                spec = finish(json.loads(response.body), app.ctx)
                finished["spec"] = json.dumps(spec).encode()
            response.body = finished["spec"]
            response.headers["content-length"] = str(len(response.body))


def sse_event(data: dict[str, Any]) -> dict[str, Any]:
    """One Server-Sent Event whose `data:` line holds JSON of the `data` schema (OpenAPI before 3.2
    reads a text/event-stream's schema as one event's)."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string"},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "retry": {"type": "integer"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        },
    }


def finish(spec: dict[str, Any], gateway: Gateway) -> dict[str, Any]:
    """Say in the document exactly what the validators accept, where sanic-ext cannot: each
    parameter's pattern and bounds, required bodies and their size limits (413), the host's resource bounds and the proxy's
    ports, the routes that need no API key, and a 204 with no body. sanic-ext labels it 3.0.3, but
    pydantic writes JSON Schema 2020-12 (`{"type": "null"}`), OpenAPI 3.1's dialect: say so."""
    spec["openapi"] = "3.1.0"
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = PARAMETERS.get(parameter["name"], parameter["schema"])
                if parameter["name"] == "path" and path.endswith("/raw"):
                    # A file (or, to remove, a folder): never the workspace's top itself.
                    parameter["schema"] = FILE_PATH
                    parameter["required"] = True
            if "requestBody" in operation:
                # A file written from no body is an empty one; every other body is required.
                operation["requestBody"]["required"] = not path.endswith("/raw")
                limit = body_limit_of(path.strip("/"))
                operation["responses"]["413"] = {
                    "description": f"the body is larger than this route takes ({limit} bytes)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorReply"}}},
                }
            if is_exempt(path):
                operation["security"] = []
            for status, response in operation["responses"].items():
                if status == "204":
                    response.pop("content", None)
                elif stream := response.get("content", {}).get("text/event-stream"):
                    stream["schema"] = sse_event(stream["schema"])
    schemas = spec["components"]["schemas"]
    limits = schemas["ResourceLimits"]["properties"]
    limits["cpu_limit"]["anyOf"][0]["maximum"] = gateway.bounds.cpus
    limits["memory_limit"]["anyOf"][0]["maximum"] = gateway.bounds.memory_bytes
    if not gateway.config.allow_custom_agents:
        agent_id = schemas["AgentServer"]["properties"]["agent_id"]["anyOf"][0]
        agent_id["enum"] = sorted(gateway.config.agents)
    schemas["TokenBody"]["properties"]["port"] = {
        **schemas["TokenBody"]["properties"]["port"],
        **gateway.router.port_schema(),
    }
    return spec


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
    403: "not allowed by the operator's configuration (a custom agent command, for one)",
    404: "no such session or project",
    409: "the session is already running a turn (files: the folder is not empty, or a name is taken)",
    413: "the body, or what an archive unpacks to, is larger than the route takes",
    416: "the range asked for lies past the file's end",
    429: "a rate or container limit: retry after the Retry-After header's seconds",
    502: "the project's container did not start",
    503: "the Docker engine or the project's runner is unavailable",
    507: "the workspace is full: nothing was written",
}
