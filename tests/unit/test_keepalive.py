"""The gateway's keepalive pings and the runner's ping policy agree: a stream that sends nothing for
many ping intervals is not torn down with GOAWAY "too_many_pings" (as it was when the runner kept gRPC's
default policy, which allows one ping in five minutes)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from rcoder_rpc.contract import channel_options, server_options

# gRPC clients wait at least a second between pings, so a one-second interval is the fastest real one.
INTERVAL_MS = 1_000
QUIET_SECONDS = 6.0


def quiet_service() -> grpc.GenericRpcHandler:
    async def quiet(request: bytes, context: grpc.aio.ServicerContext):
        await asyncio.sleep(QUIET_SECONDS)
        yield b"done"

    return grpc.method_handlers_generic_handler(
        "t.Quiet", {"Wait": grpc.unary_stream_rpc_method_handler(quiet)}
    )


async def stream_through_quiet(options: list[tuple[str, int]]) -> list[bytes]:
    server = grpc.aio.server(options=options)
    server.add_generic_rpc_handlers([quiet_service()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=channel_options(INTERVAL_MS)
        ) as channel:
            return [message async for message in channel.unary_stream("/t.Quiet/Wait")(b"")]
    finally:
        await server.stop(None)


async def test_a_quiet_stream_outlives_many_keepalive_pings():
    assert await stream_through_quiet(server_options(INTERVAL_MS)) == [b"done"]


async def test_a_server_with_the_default_ping_policy_would_cut_it():
    """The check above can fail: without the runner's policy the same stream is cut."""
    with pytest.raises(grpc.aio.AioRpcError) as cut:
        await stream_through_quiet([])
    assert cut.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "too many pings" in (cut.value.details() or "").lower()
