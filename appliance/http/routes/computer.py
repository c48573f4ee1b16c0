"""The Computer Agent's desktops: one per user, shared by their projects (GET /computer/desktop, and
the seed's /computer/pod/* routes, which despite their name serve desktops, and count and list every
container). The desktop's screen, sound and keyboard are reached through the proxy's
/computer/vnc|audio|ime routes, with the API key or the token issued here."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from sanic import Blueprint, HTTPResponse
from sanic_ext import openapi

from appliance import labels
from appliance.containers.running import RunningContainer
from appliance.engines.engine import Container
from appliance.errors import BadRequest
from appliance.http.bodies import check_id, limits_of, parse, whole_number
from appliance.http.context import GatewayRequest
from appliance.http.docs import json_body, responses
from appliance.http.envelope import data, ok
from appliance.messages import translate
from appliance.proxy.decisions import TOKEN_PARAM
from rcoder_wire.bodies import ID_PATTERN, PodBody
from rcoder_wire.replies import (
    ContainerInfoData,
    DesktopData,
    DesktopReply,
    KeepaliveData,
    KeepaliveReply,
    PodCountData,
    PodCountReply,
    PodEnsureData,
    PodEnsureReply,
    PodListData,
    PodListItem,
    PodListReply,
    PodStatusData,
    PodStatusReply,
    VncStatusData,
    VncStatusReply,
)

bp = Blueprint("computer")


def user_arg(request: GatewayRequest) -> str:
    user_id = request.args.get("user_id")
    if not user_id:
        raise BadRequest("user_id is required")
    return check_id(user_id, ID_PATTERN, "user_id")


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@bp.get("/computer/desktop/<user_id:str>/<project_id:str>", unquote=True)
@openapi.definition(
    summary="Open a user's desktop: its URLs through the proxy, with a token for a browser tab",
    description="Starts the user's desktop if it is not running. proxy_vnc_url opens noVNC, connected.",
    response=responses(DesktopReply, 400, 401, 429, 502, 503),
    tag="computer",
)
async def desktop(request: GatewayRequest, user_id: str, project_id: str):
    check_id(user_id, ID_PATTERN, "user_id")
    check_id(project_id)
    opened = await request.app.ctx.desktops.open(user_id, project_id)
    running, token = opened.running, opened.token
    base = f"/computer/vnc/{user_id}/{project_id}"
    vnc_query = (
        f"path={quote(base.lstrip('/') + '/websockify')}&autoconnect=true&resize=remote&{TOKEN_PARAM}={token}"
    )
    ip = running.container.ip
    return ok(
        data(
            DesktopData(
                success=True,
                proxy_vnc_url=f"{base}/vnc.html?{vnc_query}",
                proxy_websocket_url=f"{base}/websockify",
                proxy_audio_url=f"/computer/audio/{user_id}/{project_id}/?{TOKEN_PARAM}={token}",
                proxy_ime_url=f"/computer/ime/{user_id}/{project_id}/",
                direct_vnc_url=f"http://{ip}:6080/vnc.html",
                direct_websocket_url=f"ws://{ip}:6080/websockify",
                container_id=running.container.id,
                container_ip=ip,
                user_id=user_id,
                project_id=project_id,
                token=token,
                expires_at=opened.expires_at,
                message=translate("desktop running"),
            )
        )
    )


@bp.post("/computer/pod/ensure")
@openapi.definition(
    summary="Make sure the user's desktop runs (idempotent; concurrent calls create one container)",
    body=json_body(PodBody),
    response=responses(PodEnsureReply, 400, 401, 429, 502, 503),
    tag="computer",
)
async def ensure(request: GatewayRequest):
    body = parse(PodBody, request.json, request.app.ctx.bounds)
    running, created = await request.app.ctx.desktops.ensure(
        body.user_id, body.project_id, limits_of(body.resource_limits)
    )
    return desktop_reply(
        running, created, translate("desktop created" if created else "desktop already running")
    )


@bp.post("/computer/pod/restart")
@openapi.definition(
    summary="Replace the user's desktop with a new container (their files stay)",
    body=json_body(PodBody),
    response=responses(PodEnsureReply, 400, 401, 429, 502, 503),
    tag="computer",
)
async def restart(request: GatewayRequest):
    body = parse(PodBody, request.json, request.app.ctx.bounds)
    running = await request.app.ctx.desktops.restart(body.user_id, limits_of(body.resource_limits))
    return desktop_reply(running, True, translate("desktop restarted"))


def desktop_reply(running: RunningContainer, created: bool, message: str) -> HTTPResponse:
    """The reply to /computer/pod/ensure and /restart: the user's desktop container."""
    info = ContainerInfoData(container_id=running.container.id, status=running.container.status)
    return ok(data(PodEnsureData(created=created, container_info=info, message=message)))


@bp.get("/computer/pod/status")
@openapi.definition(
    summary="Whether the user's desktop runs",
    parameter=[openapi.definitions.Parameter("user_id", str, location="query", required=True)],
    response=responses(PodStatusReply, 400, 401, 503),
    tag="computer",
)
async def status(request: GatewayRequest):
    running = await request.app.ctx.desktops.find(user_arg(request))
    if running is None:
        return ok(
            data(
                PodStatusData(
                    alive=False, status="not_found", timestamp=now_iso(), message=translate("no desktop")
                )
            )
        )
    container = running.container
    reply = PodStatusData(
        alive=True,
        status=container.status,
        container_id=container.id,
        container_name=container.name,
        timestamp=now_iso(),
        message=translate("desktop running"),
    )
    return ok(data(reply))


@bp.get("/computer/pod/vnc-status")
@openapi.definition(
    summary="Whether the user's desktop shows (display, VNC and noVNC ready)",
    parameter=[openapi.definitions.Parameter("user_id", str, location="query", required=True)],
    response=responses(VncStatusReply, 400, 401, 404, 503),
    tag="computer",
)
async def vnc_status(request: GatewayRequest):
    running, reply = await request.app.ctx.desktops.vnc_status(user_arg(request))
    return ok(
        data(
            VncStatusData(
                vnc_ready=reply.vnc_ready,
                novnc_ready=reply.novnc_ready,
                message=reply.message,
                uptime_seconds=reply.uptime_seconds,
                container_id=running.container.id,
            )
        )
    )


def service_type(container: Container) -> str:
    return "computer_agent_runner" if container.labels.get(labels.KIND) == labels.KIND_DESKTOP else "rcoder"


@bp.get("/computer/pod/count")
@openapi.definition(
    summary="How many agent, desktop and pod containers run",
    response=responses(PodCountReply, 401, 503),
    tag="computer",
)
async def count(request: GatewayRequest):
    containers = [c for c in await request.app.ctx.desktops.containers() if c.running]
    by_type = {"rcoder": 0, "computer_agent_runner": 0}
    for container in containers:
        by_type[service_type(container)] += 1
    return ok(data(PodCountData(total_count=len(containers), by_service_type=by_type, timestamp=now_iso())))


@bp.get("/computer/pod/list")
@openapi.definition(
    summary="The agent, desktop and pod containers",
    parameter=[openapi.definitions.Parameter("limit", int, location="query", required=False)],
    response=responses(PodListReply, 400, 401, 503),
    tag="computer",
)
async def pod_list(request: GatewayRequest):
    limit = whole_number(request.get_args(keep_blank_values=True).get("limit", "100"), "limit", 1, 1000)
    containers = sorted(await request.app.ctx.desktops.containers(), key=lambda c: c.name)
    workloads = request.app.ctx.workloads
    items = []
    for c in containers[:limit]:
        # A container claimed from the warm pool has no project label: its name says whose it is.
        workload = workloads.of(c.name, c.labels)
        is_agent = workload is not None and workload.kind == labels.KIND_AGENT
        items.append(
            PodListItem(
                container_id=c.id,
                container_name=c.name,
                container_ip=c.ip,
                status=c.status,
                service_type=service_type(c),
                project_id=workload.key if is_agent else c.labels.get(labels.PROJECT),
                user_id=c.labels.get(labels.USER),
            )
        )
    reply = PodListData(
        containers=items,
        total=len(containers),
        returned=len(items),
        paginated=len(containers) > limit,
        timestamp=now_iso(),
    )
    return ok(data(reply))


@bp.post("/computer/pod/keepalive")
@openapi.definition(
    summary="Count the project as active, which keeps the user's desktop from being cleaned up",
    body=json_body(PodBody),
    response=responses(KeepaliveReply, 400, 401, 503),
    tag="computer",
)
async def keepalive(request: GatewayRequest):
    body = parse(PodBody, request.json, request.app.ctx.bounds)
    previous, running = await request.app.ctx.desktops.keepalive(body.user_id, body.project_id)
    info = (
        ContainerInfoData(container_id=running.container.id, status=running.container.status)
        if running
        else None
    )
    reply = KeepaliveData(
        existed=running is not None,
        created=False,
        container_info=info,
        previous_activity_time=int(previous.last_activity.timestamp() * 1000) if previous else None,
        current_activity_time=int(datetime.now(UTC).timestamp() * 1000),
        time_until_cleanup=request.app.ctx.config.cleanup_config.idle_timeout_seconds,
        message=translate(
            "activity recorded" if running else "activity recorded; the user has no running desktop"
        ),
    )
    return ok(data(reply))
