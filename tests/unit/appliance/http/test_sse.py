"""appliance/sse.py: the seed's event format plus id lines."""

from __future__ import annotations

import json

from appliance.http.sse import format_event
from rcoder_rpc import agent_pb2


def test_an_event_is_formatted_as_the_seed_does_with_its_sequence_as_id():
    event = agent_pb2.ProgressEvent(
        message_type="AgentSessionUpdate",
        sub_type="agent_message_chunk",
        payload='{"content":{"type":"text","text":"你好"}}',
        timestamp=1_700_000_000_123,
        sequence=42,
        session_id="s1",
    )
    text = format_event(event)

    lines = text.split("\n")
    assert lines[:2] == ["id: 42", "event: agent_message_chunk"] and text.endswith("\n\n")
    data = json.loads(lines[2].removeprefix("data: "))
    assert data == {
        "sessionId": "s1",
        "messageType": "agentSessionUpdate",
        "subType": "agent_message_chunk",
        "data": {"content": {"type": "text", "text": "你好"}},
        "timestamp": "2023-11-14T22:13:20.123000Z",
    }
