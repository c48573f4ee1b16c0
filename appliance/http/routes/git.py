"""/internal/git/<scheme>/<host>/<path>: a container's git request, from the proxy's model port
(`/rcoder-git/...`), forwarded with the real credential in place of the container's stand-in
(appliance/git_forwarding.py). Only git's smart HTTP protocol passes: ref advertisements and the two
services' POSTs; a push is checked against the push policy first (appliance/git_pushes.py). Bodies
stream both ways; redirects are not followed (one would lead git away from the broker)."""

from __future__ import annotations

import logging

import httpx
from sanic import Blueprint
from sanic_ext import openapi

from appliance import metrics
from appliance.errors import Forbidden, GitServerFailed
from appliance.git_forwarding import GitGrant, repository_of
from appliance.git_pushes import MAX_COMMANDS_BYTES, Incomplete, PushPolicy, read_commands
from appliance.http.context import GatewayRequest
from appliance.http.forward import relay, request_body
from appliance.http.routes.model import PEER_HEADER
from appliance.model_forwarding import bearer

log = logging.getLogger(__name__)
bp = Blueprint("git")

SERVICES = ("git-upload-pack", "git-receive-pack")
# What git's requests carry that the server reads.
PASSED = ("content-type", "accept", "git-protocol", "content-encoding", "user-agent", "accept-encoding")


@bp.route("/internal/git/<scheme:http|https>/<host:str>/<path:path>", methods=["GET", "POST"], stream=True)
@openapi.exclude()
async def forward(request: GatewayRequest, scheme: str, host: str, path: str):
    ctx = request.app.ctx
    git = ctx.git_forwarding
    credential = bearer(request.headers)
    peer = request.headers.get(PEER_HEADER)
    if credential and peer and git.restorable(credential, peer):
        await git.restore(credential, peer, await ctx.lifecycle.containers())
    grant = git.grant(credential, peer)
    key = f"{scheme}://{host.lower()}"
    try:
        service = _service(request.method, path, request.args.get("service"))
    except Forbidden as exc:
        _noted(grant, "other", f"{key}/{path}", "refused", exc.message)
        raise
    repository = repository_of(f"{key}/{path.rsplit('/info/refs', 1)[0].removesuffix('/' + service)}")
    try:
        upstream = await _send(request, key, path, service, repository, grant)
    except Forbidden as exc:
        _noted(grant, service, repository, "refused", exc.message)
        raise
    except GitServerFailed as exc:
        _noted(grant, service, repository, "unreachable", exc.message)
        raise
    _noted(grant, service, repository, str(upstream.status_code))
    await relay(request, upstream, f"git server {key}")


async def _send(
    request: GatewayRequest, key: str, path: str, service: str, repository: str, grant: GitGrant
) -> httpx.Response:
    """The request sent on with the grant's login for `key`, once the push policy allows it; the
    server's answer, its body still to read."""
    git = request.app.ctx.git_forwarding
    login = git.login(grant, key)
    await git.check_destination(key)
    policy = PushPolicy(request.app.ctx.config.git)
    if service == "git-receive-pack":
        policy.check_repository(repository, grant.cloned)
    body = None
    if request.method == "POST":
        head = await _commands_head(request, policy) if service == "git-receive-pack" else b""
        body = request_body(request, head)
    headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED} | login.header()
    outgoing = git.client.build_request(
        request.method, f"{key}/{path}", params=request.query_string or None, headers=headers, content=body
    )
    try:
        return await git.client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        raise GitServerFailed(
            "the git server at {url} could not be reached: {problem}", url=key, problem=str(exc)
        ) from exc


def _noted(grant: GitGrant, service: str, repository: str, outcome: str, why: str = "") -> None:
    """Each request, counted and logged: what a project's git did, or tried, with the logins the broker
    holds for it."""
    metrics.GIT_FORWARDS.labels(service, outcome).inc()
    log.info(
        "git broker: %s %s for project %s (%s): %s%s",
        service,
        repository,
        grant.project,
        grant.container,
        outcome,
        f" ({why})" if why else "",
    )


def _service(method: str, path: str, asked: str | None) -> str:
    """The git service a smart HTTP request is for; anything else (the REST API, LFS, the dumb
    protocol) is refused: a token of any scope only ever moves git objects here."""
    if method == "GET" and path.endswith("/info/refs") and asked in SERVICES:
        return asked
    for service in SERVICES:
        if method == "POST" and path.endswith(f"/{service}"):
            return service
    raise Forbidden(
        "only git's smart HTTP protocol passes the git broker, not {method} /{path}", method=method, path=path
    )


async def _commands_head(request: GatewayRequest, policy: PushPolicy) -> bytes:
    """The start of a push, read up to the end of its commands, which the policy checks."""
    if request.headers.get("content-encoding", "identity") != "identity":
        raise Forbidden("a compressed push does not pass the git broker")
    head = b""
    while len(head) <= MAX_COMMANDS_BYTES:
        chunk = await request.stream.read()
        if chunk is None:
            break
        head += chunk
        try:
            updates, _ = read_commands(head)
        except Incomplete:
            continue
        policy.check_updates(updates)
        return head
    raise Forbidden("the push's commands are malformed or too long")
