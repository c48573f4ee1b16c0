"""/templates: the toolchains a project may start on (appliance/templates.py): listed, built from an
upload (its log streamed as it goes), removed."""

from __future__ import annotations

import json

from sanic import Blueprint
from sanic_ext import openapi

from appliance.errors import BadRequest
from appliance.http.bodies import check_id
from appliance.http.context import GatewayRequest
from appliance.http.docs import responses
from appliance.http.envelope import data, ok
from appliance.http.forward import request_body
from appliance.http.sse import HEARTBEAT_SECONDS
from appliance.template_builds import DEVCONTAINER, DOCKERFILE, FAILED, KINDS, LOG, READY, receive
from rcoder_wire.contract import TEMPLATE_NAME_PATTERN
from rcoder_wire.replies import (
    TemplateInfo,
    TemplateRemovedData,
    TemplateRemovedReply,
    TemplatesData,
    TemplatesReply,
)

bp = Blueprint("templates")
# The `data:` of a build's events: {line} (log), {template} (ready) or {message} (failed).
BUILD_EVENT = {
    "type": "object",
    "properties": {"line": {"type": "string"}, "template": {"type": "string"}, "message": {"type": "string"}},
}
# Where each kind's recipe is in the upload unless `path` says otherwise.
DEFAULT_PATHS = {DOCKERFILE: "Dockerfile", DEVCONTAINER: ".devcontainer/devcontainer.json"}


@bp.get("/templates")
@openapi.definition(
    summary="The templates projects may start on",
    description="Name one with `template` on a project's first POST /chat; the project keeps it.",
    response=responses(TemplatesReply, 401),
    tag="templates",
)
async def templates(request: GatewayRequest):
    listed = [
        TemplateInfo(
            name=row.name,
            origin=row.origin,
            source=row.source,
            description=row.description,
            state=row.state,
            error=row.error,
            user=row.image.user if row.image else None,
            pool_size=request.app.ctx.templates.settings(row.name).pool_size,
        )
        for row in request.app.ctx.templates.all()
    ]
    return ok(data(TemplatesData(templates=listed)))


@bp.post("/templates", stream=True)
@openapi.definition(
    summary="Build a template from an upload",
    description="The body is a tar (or tar.gz) of a folder holding a Dockerfile and its context "
    "(`kind=dockerfile`), or a devcontainer.json and what it names (`kind=devcontainer`); `path` is "
    "where the recipe is in it. The reply is an event stream: `log` events (`{line}`) as the engine "
    "builds, then `ready` (`{template}`) or `failed` (`{message}`). The build goes on if the client "
    "leaves; GET /templates shows how it ended.",
    parameter=[
        openapi.definitions.Parameter("name", str, location="query", required=True),
        *(
            openapi.definitions.Parameter(name, str, location="query", required=False)
            for name in ("kind", "path", "description")
        ),
    ],
    body={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    response=[
        openapi.definitions.Response(
            {"text/event-stream": {"schema": {"type": "string"}}},
            status=200,
            description="the build's events",
        ),
        *responses(None, 400, 401, 409, 413, 503),
    ],
    tag="templates",
)
async def build(request: GatewayRequest):
    gateway = request.app.ctx
    args = request.get_args(keep_blank_values=True)
    name = check_id(args.get("name", ""), TEMPLATE_NAME_PATTERN, "name")
    kind = args.get("kind", DOCKERFILE)
    if kind not in KINDS:
        raise BadRequest("kind must be one of {kinds}, not {kind!r}", kinds=", ".join(KINDS), kind=kind)
    path = args.get("path") or DEFAULT_PATHS[kind]
    gateway.store.require_writable()
    gateway.templates.get_absent(name)
    upload = await receive(request_body(request), gateway.templates.uploads)
    output = gateway.templates.build(name, kind, path, args.get("description", ""), upload)
    response = await request.respond(
        content_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
    )
    async for event in output.events(heartbeat=HEARTBEAT_SECONDS):
        if event is None:
            await response.send(": keep-alive\n\n")  # a quiet step: the stream is not cut
            continue
        key = {LOG: "line", READY: "template", FAILED: "message"}[event.kind]
        await response.send(f"event: {event.kind}\ndata: {json.dumps({key: event.text})}\n\n")
    await response.eof()


@bp.delete("/templates/<name:str>", unquote=True)
@openapi.definition(
    summary="Remove a template built by POST /templates",
    description="409 for one of the configuration's, one being built, or one a project runs on.",
    response=responses(TemplateRemovedReply, 400, 401, 404, 409),
    tag="templates",
)
async def remove(request: GatewayRequest, name: str):
    check_id(name, TEMPLATE_NAME_PATTERN, "name")
    gateway = request.app.ctx
    await gateway.templates.remove(name, gateway.workloads.uses_template(name))
    return ok(data(TemplateRemovedData(name=name)))
