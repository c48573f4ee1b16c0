"""The gateway's gRPC client for the runners, with one channel per runner address.

RPC errors become the appliance's through one table (`_ERRORS`), so that a route can tell
"no such session" from "the runner is down". Every call to a runner carries the client's language as
metadata, so that what the runner words (its error details, its replies, a turn's events) reads in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from appliance import messages, metrics
from appliance.errors import (
    ApplianceError,
    BadRequest,
    Conflict,
    RunnerUnavailable,
    SessionNotFound,
)
from rcoder_rpc import agent_pb2, agent_pb2_grpc
from rcoder_rpc.contract import LANGUAGE_METADATA, PRESTARTED_SERVICE, channel_options
from rcoder_rpc.tracing import client_interceptors

T = TypeVar("T")
CALL_TIMEOUT = 300.0
CHANNEL_OPTIONS = [
    # A new container's runner listens within a fraction of a second: try connecting again soon
    # (gRPC's default waits a whole second after the first refused attempt).
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    *channel_options(),
]

_ERRORS: dict[grpc.StatusCode, type[ApplianceError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest,
    grpc.StatusCode.NOT_FOUND: SessionNotFound,
    grpc.StatusCode.FAILED_PRECONDITION: Conflict,
    grpc.StatusCode.UNAVAILABLE: RunnerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: RunnerUnavailable,
}


def translate(error: grpc.aio.AioRpcError, method: str) -> ApplianceError:
    """The runner's failure as the gateway's error (and counted, by method and code)."""
    metrics.RUNNER_ERRORS.labels(method, error.code().name).inc()
    cls = _ERRORS.get(error.code(), ApplianceError)
    detail = error.details() or error.code().name
    if cls is RunnerUnavailable:
        return cls("the project's runner is not answering ({detail}); retry shortly", detail=detail)
    return cls("the agent's runner says: {detail}", detail=detail)


def _language() -> tuple[tuple[str, str], ...]:
    """The metadata that asks a runner for the language of the request being answered."""
    return ((LANGUAGE_METADATA, messages.current.get()),)


async def _call(method: str, make: Callable[[], Awaitable[T]]) -> T:
    try:
        return await make()
    except grpc.aio.AioRpcError as exc:
        raise translate(exc, method) from exc


class RunnerClient:
    def __init__(self, traced: bool = False) -> None:
        """`traced`: carry the trace into the runners (when spans are exported; the interceptors cost
        every call, and a stream's every message, a task and a few loop turns)."""
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._interceptors = client_interceptors() if traced else None

    def _stub(self, address: str) -> agent_pb2_grpc.AgentServiceStub:
        return agent_pb2_grpc.AgentServiceStub(self._channel(address))

    def _channel(self, address: str) -> grpc.aio.Channel:
        if address not in self._channels:
            self._channels[address] = grpc.aio.insecure_channel(
                address, options=CHANNEL_OPTIONS, interceptors=self._interceptors
            )
        return self._channels[address]

    async def forget(self, address: str) -> None:
        """Close the channel to a runner that is gone."""
        if channel := self._channels.pop(address, None):
            await channel.close()

    async def close(self) -> None:
        for address in list(self._channels):
            await self.forget(address)

    async def serving(self, address: str, wait: float = 0.0) -> bool:
        """Whether the runner's gRPC health check answers SERVING, waiting up to `wait` seconds for it
        to be reachable at all (0: it must answer right now)."""
        stub = health_pb2_grpc.HealthStub(self._channel(address))
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=max(wait, 1.0), wait_for_ready=wait > 0
            )
        except grpc.aio.AioRpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    async def prestarted(self, address: str, within: float) -> None:
        """Until the runner has started (or failed to start) the agent it starts at boot."""
        stub = health_pb2_grpc.HealthStub(self._channel(address))
        call = stub.Watch(health_pb2.HealthCheckRequest(service=PRESTARTED_SERVICE), timeout=within)
        try:
            async for response in call:
                if response.status != health_pb2.HealthCheckResponse.SERVICE_UNKNOWN:
                    return
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, "Health.Watch") from exc
        finally:
            call.cancel()
        raise RunnerUnavailable(
            "the runner at {address} stopped reporting on its prestarted agent", address=address
        )

    async def chat(self, address: str, request: agent_pb2.ChatRequest) -> agent_pb2.ChatResponse:
        return await _call(
            "Chat", lambda: self._stub(address).Chat(request, timeout=CALL_TIMEOUT, metadata=_language())
        )

    async def configure_git(self, address: str, access: agent_pb2.GitAccess) -> None:
        await _call(
            "ConfigureGit",
            lambda: self._stub(address).ConfigureGit(access, timeout=10.0, metadata=_language()),
        )

    async def cancel(self, address: str, project_id: str, session_id: str) -> agent_pb2.CancelResponse:
        request = agent_pb2.CancelRequest(
            project_id=project_id, session_id=session_id, reason="client request"
        )
        return await _call(
            "CancelSession",
            lambda: self._stub(address).CancelSession(request, timeout=30.0, metadata=_language()),
        )

    async def respond_permission(
        self, address: str, session_id: str, request_id: str, option_id: str
    ) -> None:
        answer = agent_pb2.PermissionAnswer(session_id=session_id, request_id=request_id, option_id=option_id)
        await _call(
            "RespondPermission",
            lambda: self._stub(address).RespondPermission(answer, timeout=10.0, metadata=_language()),
        )

    async def status(
        self, address: str, project_id: str, session_id: str = ""
    ) -> agent_pb2.GetStatusResponse:
        request = agent_pb2.GetStatusRequest(project_id=project_id, session_id=session_id)
        return await _call(
            "GetStatus", lambda: self._stub(address).GetStatus(request, timeout=10.0, metadata=_language())
        )

    async def stop_agent(self, address: str, project_id: str) -> agent_pb2.StopAgentResponse:
        """Stop the project's agent process (its running turn is cancelled first); the container stays."""
        request = agent_pb2.StopAgentRequest(project_id=project_id, reason="client request", force=False)
        return await _call(
            "StopAgent", lambda: self._stub(address).StopAgent(request, timeout=30.0, metadata=_language())
        )

    async def container_status(self, address: str) -> agent_pb2.GetContainerStatusResponse:
        request = agent_pb2.GetContainerStatusRequest()
        return await _call(
            "GetContainerStatus",
            lambda: self._stub(address).GetContainerStatus(request, timeout=10.0, metadata=_language()),
        )

    async def vnc_status(self, address: str) -> agent_pb2.GetVncStatusResponse:
        request = agent_pb2.GetVncStatusRequest()
        return await _call(
            "GetVncStatus",
            lambda: self._stub(address).GetVncStatus(request, timeout=10.0, metadata=_language()),
        )

    async def subscribe(
        self, address: str, session_id: str, after_sequence: int
    ) -> AsyncIterator[agent_pb2.ProgressEvent]:
        """The session's events after `after_sequence`; the call is cancelled when the caller stops."""
        request = agent_pb2.ProgressRequest(session_id=session_id, after_sequence=after_sequence)
        call = self._stub(address).SubscribeProgress(request, metadata=_language())
        try:
            while True:
                try:
                    event = await call.read()
                except grpc.aio.AioRpcError as exc:
                    raise translate(exc, "SubscribeProgress") from exc
                if event is grpc.aio.EOF:
                    return
                yield event
        finally:
            call.cancel()
