"""runner/jsonrpc.py: requests and answers, errors both ways, notifications in order, and a side that
goes away."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from runner.jsonrpc import METHOD_NOT_FOUND, Connection, RpcError


async def pair(on_request_a=None, on_notification_a=None, on_request_b=None, on_notification_b=None):
    """Two connections talking over a socket pair."""

    async def no_request(method, params):
        raise RpcError(METHOD_NOT_FOUND, f"no {method}")

    async def ignore(method, params):
        return None

    left, right = socket.socketpair()
    a_reader, a_writer = await asyncio.open_connection(sock=left)
    b_reader, b_writer = await asyncio.open_connection(sock=right)
    a = Connection(a_reader, a_writer, on_request_a or no_request, on_notification_a or ignore)
    b = Connection(b_reader, b_writer, on_request_b or no_request, on_notification_b or ignore)
    return a, b


async def test_a_request_gets_its_answer_and_an_error_comes_back_as_rpc_error():
    async def echo(method, params):
        if method == "fail":
            raise RpcError(-32000, "it failed", {"why": "asked to"})
        return {"method": method, **params}

    a, b = await pair(on_request_b=echo)
    try:
        assert await a.request("hello", {"x": "é"}) == {"method": "hello", "x": "é"}
        with pytest.raises(RpcError) as failed:
            await a.request("fail", {})
        with pytest.raises(RpcError) as unknown:
            await b.request("anything", {})
    finally:
        await a.close()
        await b.close()
    assert (failed.value.code, failed.value.message, failed.value.data) == (
        -32000,
        "it failed",
        {"why": "asked to"},
    )
    assert unknown.value.code == METHOD_NOT_FOUND


async def test_notifications_are_handled_in_order_before_a_later_answer():
    seen: list[int] = []

    async def slow_note(method, params):
        await asyncio.sleep(0.01 if params["n"] % 2 else 0)
        seen.append(params["n"])

    async def answer_after_notes(method, params):
        for n in range(5):
            await b.notify("note", {"n": n})
        return "done"

    a, b = await pair(on_notification_a=slow_note, on_request_b=answer_after_notes)
    try:
        assert await a.request("go", {}) == "done"
    finally:
        await a.close()
        await b.close()
    assert seen == [0, 1, 2, 3, 4], "every note was handled, in order, before the answer"


async def test_requests_are_answered_concurrently():
    release = asyncio.Event()

    async def handler(method, params):
        if method == "wait":
            await release.wait()
            return "waited"
        release.set()
        return "released"

    a, b = await pair(on_request_b=handler)
    try:
        waiting = asyncio.create_task(a.request("wait", {}))
        assert await asyncio.wait_for(a.request("release", {}), 5) == "released"
        assert await asyncio.wait_for(waiting, 5) == "waited"
    finally:
        await a.close()
        await b.close()


async def test_when_the_other_side_goes_away_what_waits_fails_with_connection_error():
    never = asyncio.Event()

    async def hang(method, params):
        await never.wait()

    a, b = await pair(on_request_b=hang)
    pending = asyncio.create_task(a.request("hang", {}))
    await asyncio.sleep(0)
    await b.close()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(ConnectionError):
        await a.request("again", {})
    await a.close()


async def test_a_line_that_is_not_json_closes_the_connection():
    left, right = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=left)

    async def unused(method, params):
        return None

    connection = Connection(reader, writer, unused, unused)
    os.write(right.fileno(), b"this is not json\n")
    await asyncio.wait_for(connection.wait_closed(), 5)
    assert connection.closed
    await connection.close()
    right.close()


async def test_a_notification_sent_after_a_request_does_not_overtake_its_handler():
    """As ACP's session/cancel right after session/prompt: the prompt's handler has begun first."""
    seen: list[str] = []
    forever, notified = asyncio.Event(), asyncio.Event()

    async def on_request(method, params):
        seen.append(method)
        await forever.wait()

    async def on_notification(method, params):
        seen.append(method)
        notified.set()

    a, b = await pair(on_request_b=on_request, on_notification_b=on_notification)
    try:
        # Both in the other side's buffer at once.
        a._writer.write(b'{"jsonrpc":"2.0","id":1,"method":"prompt"}\n{"jsonrpc":"2.0","method":"cancel"}\n')
        await asyncio.wait_for(notified.wait(), 5)
        await asyncio.sleep(0.01)  # the request's handler had its chance in any case
    finally:
        await a.close()
        await b.close()
    assert seen == ["prompt", "cancel"]
