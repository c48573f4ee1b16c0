"""`Appliance`: one appliance's HTTP API, typed with the request and response models the gateway
documents (`rcoder_wire/bodies.py`, `replies.py`). Every request goes through `call`, where httpx's
errors and the appliance's error replies become `rcoder.errors`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
from pydantic import BaseModel, ValidationError

from rcoder import config
from rcoder.errors import TransportError, error_for
from rcoder.project import Project
from rcoder.sse import ServerSentEvent, parse
from rcoder.templates import Templates
from rcoder_wire.replies import AgentsData, DesktopData, Health, PodCountData, PodListData

M = TypeVar("M", bound=BaseModel)
# The stream sends a keep-alive every 15 s: a read that waits much longer has lost its connection.
STREAM_READ_TIMEOUT = 60.0


class Appliance:
    """An appliance's API, through its proxy (or the gateway itself). `url` and `api_key` default to
    the client's configuration (RCODER_URL, RCODER_API_KEY, ~/.config/rcoder/client.yml).

        async with Appliance("http://127.0.0.1:8088", api_key) as rc:
            turn = await rc.project("p1").chat("create hello.txt")
            async for event in turn: ...
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if url is None or api_key is None:
            settings = config.load({"url": url, "api_key": api_key})
            url, api_key = settings.url, settings.key()
        self.url = url.rstrip("/")
        headers = {"x-api-key": api_key} if api_key else {}
        self._auth = headers
        # Starting a project's container can take a while: the default timeout is generous.
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout), transport=transport
        )

    async def __aenter__(self) -> Appliance:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def templates(self) -> Templates:
        """The toolchains projects may start on: list, build, remove (rcoder/templates.py)."""
        return Templates(self)

    def project(self, project_id: str, user: str | None = None) -> Project:
        """A project's agent: its own container, or with `user` an agent in that user's desktop."""
        return Project(self, project_id, user)

    def url_for(self, path: str) -> str:
        """An absolute URL for a path the appliance returned (preview and desktop URLs are relative)."""
        return urljoin(self.url + "/", path.lstrip("/"))

    def websocket_target(self, path: str) -> tuple[str, dict[str, str]]:
        """A WebSocket route's ws:// (or wss://) URL, and the headers that authenticate it."""
        scheme, rest = self.url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{path}", dict(self._auth)

    async def health(self) -> Health:
        return await self.call("GET", "/health", reply=Health, envelope=False)

    async def agents(self) -> AgentsData:
        return await self.call("GET", "/agents", reply=AgentsData)

    async def containers(self, limit: int = 100) -> PodListData:
        """The agent, desktop and pod containers (the seed's /computer/pod/list)."""
        return await self.call("GET", "/computer/pod/list", params={"limit": limit}, reply=PodListData)

    async def container_count(self) -> PodCountData:
        """How many agent, desktop and pod containers run (the seed's /computer/pod/count)."""
        return await self.call("GET", "/computer/pod/count", reply=PodCountData)

    async def desktop(self, user: str, project_id: str) -> DesktopData:
        """Open the user's desktop (started if needed): its URLs, made absolute, with a token."""
        opened = await self.call("GET", f"/computer/desktop/{user}/{project_id}", reply=DesktopData)
        absolute = {
            name: self.url_for(getattr(opened, name))
            for name in ("proxy_vnc_url", "proxy_websocket_url", "proxy_audio_url", "proxy_ime_url")
        }
        return opened.model_copy(update=absolute)

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        reply: type[M],
        envelope: bool = True,
    ) -> M:
        """One request: its reply's `data` (or the whole body without `envelope`) as `reply`. The body
        is `body` as JSON, or `content` as it is (an async iterable is streamed)."""
        json_body = body.model_dump(mode="json", exclude_none=True, exclude_defaults=True) if body else None
        try:
            response = await self._http.request(
                method, path, json=json_body, content=content, headers=headers, params=params
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {self.url}{path}: {describe(exc)}") from exc
        if response.is_error:
            raise error_for(response.status_code, response.content)
        try:
            payload = response.json()
            return reply.model_validate(payload["data"] if envelope else payload)
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise TransportError(f"{method} {path}: the reply is not what the API documents: {exc}") from exc

    @contextlib.asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: AsyncIterable[bytes] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A request (its body `content`, streamed) whose reply is read as it comes (`body`). Error
        replies raise, and so does a connection that fails (TransportError). `read_timeout` bounds
        each wait for bytes."""
        timeout = self._http.timeout
        if read_timeout is not None:
            timeout = httpx.Timeout(timeout.connect, read=read_timeout)
        request = self._http.build_request(
            method, path, params=params, headers=headers, content=content, timeout=timeout
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {self.url}{path}: {describe(exc)}") from exc
        try:
            if response.is_error:
                try:
                    await response.aread()
                except httpx.HTTPError as exc:
                    raise TransportError(f"{method} {path}: the error reply broke: {describe(exc)}") from exc
                raise error_for(response.status_code, response.content)
            yield response
        finally:
            await response.aclose()

    async def events(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: AsyncIterable[bytes] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[ServerSentEvent]:
        """A request whose reply is an event stream (as `open` makes it): its events as they come."""
        async with (
            self.open(
                method, path, params=params, headers=headers, content=content, read_timeout=read_timeout
            ) as response,
            contextlib.aclosing(parse(lines(response, path))) as received,
        ):
            async for event in received:
                yield event

    @staticmethod
    async def body(response: httpx.Response) -> AsyncIterator[bytes]:
        """The bytes of a reply `open` gave, as they come; a body cut short raises TransportError."""
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise TransportError(f"the reply to {response.request.url.path} broke: {describe(exc)}") from exc

    @contextlib.asynccontextmanager
    async def stream(self, path: str, last_event_id: int | None) -> AsyncIterator[AsyncIterator[str] | None]:
        """A GET of an SSE route from `last_event_id` on: the response's lines, or None for 204 (nothing
        more to send). Error replies raise; so does a connection that breaks (TransportError)."""
        headers = {"accept": "text/event-stream"}
        if last_event_id is not None:
            headers["last-event-id"] = str(last_event_id)
        async with self.open("GET", path, headers=headers, read_timeout=STREAM_READ_TIMEOUT) as response:
            if response.status_code == 204:
                yield None
                return
            async with contextlib.aclosing(lines(response, path)) as received:
                yield received


async def lines(response: httpx.Response, path: str) -> AsyncIterator[str]:
    try:
        async for line in response.aiter_lines():
            yield line
    except httpx.HTTPError as exc:
        raise TransportError(f"the stream of {path} broke: {describe(exc)}") from exc


def describe(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__
