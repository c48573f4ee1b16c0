"""GET /templates: the toolchains a project may start on (appliance/templates.py)."""

from __future__ import annotations

from sanic import Blueprint
from sanic_ext import openapi

from appliance.http.context import GatewayRequest
from appliance.http.docs import responses
from appliance.http.envelope import data, ok
from rcoder_wire.replies import TemplateInfo, TemplatesData, TemplatesReply

bp = Blueprint("templates")


@bp.get("/templates")
@openapi.definition(
    summary="The templates projects may start on",
    description="Name one with `template` on a project's first POST /chat; the project keeps it.",
    response=responses(TemplatesReply, 401),
    tag="templates",
)
async def templates(request: GatewayRequest):
    known = request.app.ctx.templates
    listed = [
        TemplateInfo(
            name=row.name,
            origin=row.origin,
            source=row.source,
            description=row.description,
            state=row.state,
            error=row.error,
            user=row.image.user if row.image else None,
        )
        for row in known.all()
    ]
    return ok(data(TemplatesData(templates=listed)))
