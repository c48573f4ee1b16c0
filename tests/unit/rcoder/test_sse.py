"""rcoder/sse.py: the SSE fields the appliance writes, comments, and events cut off mid-way."""

from __future__ import annotations

from collections.abc import AsyncIterator

from rcoder.sse import ServerSentEvent, parse


async def lines_of(text: str) -> AsyncIterator[str]:
    for line in text.splitlines():
        yield line


async def parsed(text: str) -> list[ServerSentEvent]:
    return [event async for event in parse(lines_of(text))]


async def test_fields_make_an_event_and_comments_are_skipped():
    text = ': keep-alive\n\nid: 7\nevent: plan\ndata: {"a":1}\n\n: keep-alive\n\nevent: error\ndata: x\n\n'
    assert await parsed(text) == [
        ServerSentEvent("7", "plan", '{"a":1}'),
        ServerSentEvent(None, "error", "x"),
    ]


async def test_data_lines_join_and_a_missing_space_or_event_name_is_fine():
    assert await parsed("data:one\ndata: two\r\n\r\n") == [ServerSentEvent(None, "message", "one\ntwo")]


async def test_an_event_cut_off_before_its_empty_line_is_not_yielded():
    assert await parsed('id: 1\ndata: {"whole":1}\n\nid: 2\ndata: {"ha') == [
        ServerSentEvent("1", "message", '{"whole":1}')
    ]
