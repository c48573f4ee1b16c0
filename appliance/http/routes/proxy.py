"""The proxy's control plane: tokens for previews, and the routing decision nginx asks for each request.

nginx (images/proxy) asks GET /internal/proxy-auth (a Lua subrequest) where each /proxy/... and
/computer/... request may go, keeps the answer 2 seconds per route and credential, so that a page's
many requests cost one decision, and proxies the request itself. Refusals go to the gateway's
/internal/proxy-error, which answers them in the seed's envelope.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from sanic import Blueprint, empty
from sanic_ext import openapi

from appliance import metrics
from appliance.errors import BadRequest, ProxyUnavailable
from appliance.http.bodies import parse
from appliance.http.context import GatewayRequest
from appliance.http.docs import json_body, responses
from appliance.http.envelope import data, failure, ok
from appliance.messages import translate
from appliance.projects import ProjectRef
from appliance.proxy.decisions import DECISION_KEEP_SECONDS, ROUTES, TOKEN_PARAM, Decision, Problem
from appliance.proxy.tokens import files_scope, project_scope, terminal_scope
from rcoder_wire.bodies import TokenBody
from rcoder_wire.contract import project_route
from rcoder_wire.replies import (
    ProxyConfig,
    ProxyConfigReply,
    ProxyStats,
    ProxyStatsReply,
    ProxyStatus,
    ProxyStatusReply,
    TokenData,
    TokenReply,
)

bp = Blueprint("proxy")

UPSTREAM_HEADER = "x-rcoder-upstream"
PATH_HEADER = "x-rcoder-path"


@bp.post("/proxy/token")
@openapi.definition(
    summary="A token that opens one project's previews in a browser",
    description="Open `preview_url` (or any /proxy/{project_id}/{port}/ URL with ?rcoder_token=...) without the "
    "API key; the proxy then keeps the token in a cookie scoped to the project's previews.",
    body=json_body(TokenBody),
    response=responses(TokenReply, 400, 401),
    tag="proxy",
)
async def token(request: GatewayRequest):
    body = parse(TokenBody, request.json)
    ctx = request.app.ctx
    ttl = ctx.config.proxy_config.token_ttl_seconds
    if problem := ctx.router.port_problem(body.port):
        raise BadRequest(problem.template, **problem.params)
    if body.access != "preview":
        ref = ProjectRef(body.project_id, body.user_id)
        scope, area = (files_scope, "files") if body.access == "files" else (terminal_scope, "terminal")
        value, expires = ctx.tokens.issue(scope(ref), ttl)
        url = f"{project_route(area, ref.project_id, ref.user_id)}?{TOKEN_PARAM}={quote(value)}"
        reply = TokenData(token=value, expires_at=expires, **{f"{area}_url": url})
        return ok(data(reply))
    value, expires = ctx.tokens.issue(project_scope(body.project_id), ttl)
    url = f"/proxy/{body.project_id}/{body.port}/?{TOKEN_PARAM}={quote(value)}"
    return ok(data(TokenData(token=value, expires_at=expires, preview_url=url)))


@bp.get("/proxy/status")
@openapi.definition(
    summary="Whether the proxy answers (no API key needed)",
    response=responses(ProxyStatusReply),
    secured={},
    tag="proxy",
)
async def status(request: GatewayRequest):
    ctx = request.app.ctx
    port = ctx.config.proxy_config.listen_port
    try:
        await ctx.proxy.stats()
    except (OSError, TimeoutError) as exc:
        reply = ProxyStatus(
            status="unreachable",
            listen_port=port,
            message=translate("the proxy does not answer: {detail}", detail=str(exc)),
        )
    else:
        reply = ProxyStatus(status="running", listen_port=port, message=translate("the proxy is running"))
    return ok(data(reply))


@bp.get("/proxy/stats")
@openapi.definition(
    summary="The proxy's connection, request and routing-decision counters (no API key needed)",
    response=responses(ProxyStatsReply, 503),
    secured={},
    tag="proxy",
)
async def stats(request: GatewayRequest):
    try:
        counters = await request.app.ctx.proxy.stats()
    except (OSError, TimeoutError) as exc:
        raise ProxyUnavailable("the proxy does not answer: {detail}", detail=str(exc)) from exc
    return ok(data(ProxyStats(**counters, decisions=decisions_by_outcome())))


@bp.get("/proxy/config")
@openapi.definition(
    summary="How the proxy routes (no secret)", response=responses(ProxyConfigReply, 401), tag="proxy"
)
async def config(request: GatewayRequest):
    proxy = request.app.ctx.config.proxy_config
    reply = ProxyConfig(
        listen_port=proxy.listen_port,
        allowed_ports=proxy.allowed_ports,
        backend_host=proxy.backend_host,
        default_backend_port=proxy.default_backend_port,
        token_ttl_seconds=proxy.token_ttl_seconds,
        decision_keep_seconds=DECISION_KEEP_SECONDS,
        routes=list(ROUTES),
    )
    return ok(data(reply))


def decisions_by_outcome() -> dict[str, int]:
    return {
        sample.labels["outcome"]: int(sample.value)
        for family in metrics.PROXY_DECISIONS.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


@bp.get("/internal/proxy-auth")
@openapi.exclude()
async def proxy_auth(request: GatewayRequest):
    ctx = request.app.ctx
    original = request.headers.get("x-original-uri", "/")
    key_ok = ctx.api_key.matches(request.headers.get("x-api-key"))
    decision = await ctx.router.decide(original, key_ok, request.cookies)
    metrics.PROXY_DECISIONS.labels("admitted" if decision.status == 200 else str(decision.status)).inc()
    return routed(decision, ctx.config.address)


def routed(decision: Decision, gateway: str):
    """The answer nginx acts on: where to send the request (refusals go to the gateway's error page)."""
    response = empty(status=204)
    if decision.status == 200:
        # No path: nginx cuts it from the request itself, so that the decision holds for the whole route.
        response.headers[UPSTREAM_HEADER] = decision.upstream
        if decision.target:
            response.headers[PATH_HEADER] = decision.target
        if decision.cookie:
            response.headers["set-cookie"] = decision.cookie
    else:
        response.headers[UPSTREAM_HEADER] = gateway
        # The refusal's template and fields: the error page words it in each client's language.
        problem = decision.problem or Problem("the proxy refused the request")
        query = urlencode({"template": problem.template, "params": json.dumps(problem.params)})
        response.headers[PATH_HEADER] = f"/internal/proxy-error/{decision.status}?{query}"
    return response


# Refused requests keep their method on the way here.
@bp.route(
    "/internal/proxy-error/<status:int>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
)
@openapi.exclude()
async def proxy_error(request: GatewayRequest, status: int):
    codes = {
        401: "4010",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        429: "TOO_MANY_REQUESTS",
        503: "SERVICE_UNAVAILABLE",
    }
    message = translate(request.args.get("template", ""), **json.loads(request.args.get("params", "{}")))
    return failure(status if status in codes else 502, codes.get(status, "PROXY_ERROR"), message)
