"""/internal/model/<path>: an agent's request to its model provider, from the proxy's model port
(images/proxy), forwarded with the real key in place of the agent's stand-in (appliance/model_forwarding.py).
The provider's answer streams back as it comes (a model's SSE reply included)."""

from __future__ import annotations

import httpx
from sanic import Blueprint
from sanic_ext import openapi

from appliance import metrics
from appliance.errors import ModelProviderFailed
from appliance.http.context import GatewayRequest
from appliance.http.forward import kept_headers, relay
from appliance.model_forwarding import check_destination, presented

bp = Blueprint("model")

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# The peer's address, set by the proxy's model server (a client's own value never gets this far).
PEER_HEADER = "x-real-ip"


@bp.route("/internal/model/<path:path>", methods=METHODS)
@openapi.exclude()
async def forward(request: GatewayRequest, path: str):
    forwarding = request.app.ctx.model_forwarding
    credential, peer = presented(dict(request.headers)), request.headers.get(PEER_HEADER)
    if credential and peer and forwarding.restorable(credential, peer):
        forwarding.restore(credential, peer, await request.app.ctx.lifecycle.containers())
    grant = forwarding.grant(credential, peer)
    await check_destination(grant)
    url = grant.url(path, request.query_string)
    headers = kept_headers(request.headers) | grant.credentials()
    outgoing = forwarding.client.build_request(request.method, url, headers=headers, content=request.body)
    try:
        upstream = await forwarding.client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        metrics.MODEL_REQUESTS.labels("unreachable").inc()
        raise ModelProviderFailed(
            "the model provider at {url} could not be reached: {problem}",
            url=grant.base_url,
            problem=str(exc),
        ) from exc
    metrics.MODEL_REQUESTS.labels(str(upstream.status_code)).inc()
    await relay(request, upstream, f"model provider {grant.base_url}")
