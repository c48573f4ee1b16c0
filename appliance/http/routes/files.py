"""The files API: a project's workspace listed, read, written, removed, and packed or unpacked as an
archive; /agent/files/{project_id}/... for /chat projects, /computer/files/{user_id}/{project_id}/...
for a user's Computer Agent projects (their folder of the desktop's home). Beside it, the review of a
cloned repository: /agent/git/{project_id}/status and /diff (and their /computer twins).

The project's files container (appliance/files.py) answers each request, in the seed's envelope for
JSON and errors; the gateway checks the ids, starts that container when needed and relays the bytes
both ways as they come. Through the proxy, the same paths reach the files container directly.
"""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Blueprint
from sanic_ext import openapi

from appliance.errors import RunnerUnavailable
from appliance.files import Files, files_address
from appliance.http.bodies import check_id
from appliance.http.context import GatewayRequest
from appliance.http.docs import responses
from appliance.http.forward import relay, request_body
from appliance.projects import ProjectRef
from rcoder_wire.replies import ExtractReply, FileEntryReply, FileListReply, GitStatusReply, RemovedReply

bp = Blueprint("files")

# Request headers the files server reads; the rest stay here.
PASSED = ("range", "if-range", "if-none-match", "content-type", "content-length", "accept-language")
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
ARCHIVES = {
    media: {"schema": {"type": "string", "format": "binary"}}
    for media in ("application/x-tar", "application/gzip", "application/zip")
}


def _parameters(*names: str) -> list[openapi.definitions.Parameter]:
    return [openapi.definitions.Parameter(name, str, location="query", required=False) for name in names]


def _binary(status: int, content: dict[str, Any], description: str) -> openapi.definitions.Response:
    return openapi.definitions.Response(content, status=status, description=description)


async def _forward(request: GatewayRequest, ref: ProjectRef, endpoint: str) -> None:
    """Relay the request to the project's files server at `endpoint` ("/", "/raw", "/archive"), and
    its answer back; a server that left since it was last used is started again, once."""
    files: Files = request.app.ctx.files
    headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED}
    if trace := request.headers.get("traceparent"):
        headers["traceparent"] = trace
    streamed = request.method in ("PUT", "POST")
    workload = files.workload(ref)
    # A connection refused is refused before any of the body is read: the retry sends all of it.
    for attempt in range(2):
        url = f"http://{files_address(await files.ensure(workload))}{endpoint}"
        outgoing = files.client.build_request(
            request.method,
            url,
            params=request.query_string or None,
            headers=headers,
            content=request_body(request) if streamed else None,
        )
        try:
            upstream = await files.client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectError):
                files.forget(workload)  # it left: looked up (and started) again
                if not attempt:
                    continue
            raise RunnerUnavailable(
                "the files server of project {project_id!r} did not answer: {problem}",
                project_id=ref.project_id,
                problem=str(exc),
            ) from exc
        await relay(request, upstream, f"files server of {ref.key}", keep_length=True)
        return


def _agent(project_id: str) -> ProjectRef:
    return ProjectRef(check_id(project_id))


def _computer(user_id: str, project_id: str) -> ProjectRef:
    return ProjectRef(check_id(project_id), check_id(user_id, what="user_id"))


LIST = dict(
    summary="List a folder of the project's workspace",
    description="Each entry's name, type (file, dir, symlink or other), size, mtime and mode; a link's "
    "target. `path` is relative to the workspace (default: its top). Works whether the project's "
    "container runs, is paused or is gone, and never starts its agent.",
    parameter=_parameters("path", "limit", "after"),
    response=responses(FileListReply, 400, 401, 403, 404, 429, 503),
)
RAW_GET = dict(
    summary="Read a file of the project's workspace",
    description="The file's bytes, streamed, with Content-Type, ETag and Range support (206, or 416 for "
    "a range past its end); If-None-Match answers 304. `download=1` makes it an attachment.",
    parameter=_parameters("path", "download"),
    response=[
        _binary(200, BINARY, "the file"),
        _binary(206, BINARY, "the requested range"),
        *responses(None, 400, 401, 403, 404, 409, 416, 429, 503),
    ],
)
RAW_PUT = dict(
    summary="Write a file of the project's workspace",
    description="The body becomes the file, atomically (a reader sees the old bytes or the new ones); "
    "missing parent folders are made unless `parents=false`. 507 when the workspace is full: nothing "
    "is left of the upload.",
    parameter=_parameters("path", "parents"),
    body={"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    response=responses(FileEntryReply, 400, 401, 403, 404, 409, 429, 503, 507),
)
RAW_DELETE = dict(
    summary="Remove a file or folder of the project's workspace",
    description="A file, an empty folder, or with `recursive=true` a whole tree (never beyond a link).",
    parameter=_parameters("path", "recursive"),
    response=responses(RemovedReply, 400, 401, 403, 404, 409, 429, 503),
)
ARCHIVE_GET = dict(
    summary="Download a folder of the project's workspace as an archive",
    description="`format`: tar, tar.gz (the default) or zip; `path`: the folder (default: the whole "
    "workspace). Links stay links; devices, FIFOs and sockets are left out.",
    parameter=_parameters("path", "format"),
    response=[
        _binary(200, ARCHIVES, "the archive, streamed"),
        *responses(None, 400, 401, 403, 404, 429, 503),
    ],
)
ARCHIVE_POST = dict(
    summary="Unpack an uploaded tar, tar.gz or zip into a folder of the project's workspace",
    description="Entries that would lead out of the folder (absolute names, `..`, through a link) refuse "
    "the whole archive (400); so do devices and FIFOs. Past the size or entry limit, 413; past the "
    "workspace's quota, 507. A refused archive leaves nothing behind.",
    parameter=_parameters("path", "format"),
    body=ARCHIVES | BINARY,
    response=responses(ExtractReply, 400, 401, 403, 404, 413, 429, 503, 507),
)


GIT_STATUS = dict(
    summary="What the agent changed in the project's repository (git status)",
    description="The branch, its upstream and the commits since the project was cloned, and every changed "
    "or untracked file. Works whether the project's container runs, is paused or is gone. 404 when the "
    "project's folder is not a git repository.",
    response=responses(GitStatusReply, 400, 401, 404, 429, 503),
)
GIT_DIFF = dict(
    summary="The diff of the project's repository since it was cloned",
    description="A unified diff (text/x-diff) of the working tree against the commit the project was cloned "
    "at, untracked files included; cut at 5 MiB (X-Rcoder-Truncated: true).",
    response=[
        _binary(200, {"text/x-diff": {"schema": {"type": "string"}}}, "the diff"),
        *responses(None, 400, 401, 404, 429, 503),
    ],
)


# Each route: (the path after the area's prefix, its methods, the files server's endpoint, its
# documentation, whether its body streams in).
ROUTES = (
    ("files", "", ["GET"], "/", LIST, False),
    ("files", "/raw", ["GET", "HEAD"], "/raw", RAW_GET, False),
    ("files", "/raw", ["PUT"], "/raw", RAW_PUT, True),
    ("files", "/raw", ["DELETE"], "/raw", RAW_DELETE, False),
    ("files", "/archive", ["GET"], "/archive", ARCHIVE_GET, False),
    ("files", "/archive", ["POST"], "/archive", ARCHIVE_POST, True),
    ("git", "/status", ["GET"], "/git/status", GIT_STATUS, False),
    ("git", "/diff", ["GET"], "/git/diff", GIT_DIFF, False),
)


def _route(area: str, suffix: str, methods: list[str], endpoint: str, definition: dict, stream: bool) -> None:
    """The route for /chat projects (/agent/<area>/{project_id}...) and its twin for Computer Agent
    projects (/computer/<area>/{user_id}/{project_id}...), both relayed to `endpoint`."""

    async def agent_route(request: GatewayRequest, project_id: str):
        return await _forward(request, _agent(project_id), endpoint)

    async def computer_route(request: GatewayRequest, user_id: str, project_id: str):
        return await _forward(request, _computer(user_id, project_id), endpoint)

    what = f"{area}{suffix.replace('/', '_')}_{methods[0].lower()}"
    for prefix, handler, tag in (
        (f"/agent/{area}/<project_id:str>", agent_route, "files"),
        (f"/computer/{area}/<user_id:str>/<project_id:str>", computer_route, "computer"),
    ):
        name = f"{prefix.split('/')[1]}_{what}"  # agent_files_raw_put, computer_git_diff_get, ...
        handler.__name__ = name
        bp.add_route(
            openapi.definition(**definition, tag=tag)(handler),
            prefix + suffix,
            methods=methods,
            stream=stream,
            name=name,
        )


for route in ROUTES:
    _route(*route)
