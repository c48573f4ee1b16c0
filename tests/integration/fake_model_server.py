"""A scripted model endpoint for the agent adapters: the Anthropic Messages API and the OpenAI
Responses API, both streaming, each answering every prompt with FAKE_REPLY.

It runs in a container on the appliance's agents network (standard library only). It records
each request's path, model and credentials; the tests read them from GET /_requests.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY = os.environ.get("FAKE_REPLY", "Hello from the fake model.")
RECORDED: list[dict] = []
# What the next requests must carry (POST /_expect): {"key": ..., "model": ...}; others get 401/404.
EXPECTED: dict[str, str] = {}
LOCK = threading.Lock()


def chunks(text: str) -> list[str]:
    words = text.split(" ")
    return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


def anthropic_events(model: str) -> list[tuple[str, dict]]:
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
    ]
    for piece in chunks(REPLY):
        delta = {"type": "text_delta", "text": piece}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(chunks(REPLY))},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def responses_events(model: str) -> list[tuple[str, dict]]:
    now = int(time.time())
    part = {"type": "output_text", "text": "", "annotations": []}
    item = {"id": "msg_fake", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    response = {
        "id": "resp_fake",
        "object": "response",
        "created_at": now,
        "status": "in_progress",
        "model": model,
        "output": [],
        "usage": None,
    }
    events = [
        ("response.created", {"type": "response.created", "response": response}),
        ("response.in_progress", {"type": "response.in_progress", "response": response}),
        (
            "response.output_item.added",
            {"type": "response.output_item.added", "output_index": 0, "item": item},
        ),
        (
            "response.content_part.added",
            {
                "type": "response.content_part.added",
                "item_id": "msg_fake",
                "output_index": 0,
                "content_index": 0,
                "part": part,
            },
        ),
    ]
    for piece in chunks(REPLY):
        events.append(
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_fake",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                },
            )
        )
    done_part = {"type": "output_text", "text": REPLY, "annotations": []}
    done_item = {**item, "status": "completed", "content": [done_part]}
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": len(chunks(REPLY)),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + len(chunks(REPLY)),
    }
    events += [
        (
            "response.output_text.done",
            {
                "type": "response.output_text.done",
                "item_id": "msg_fake",
                "output_index": 0,
                "content_index": 0,
                "text": REPLY,
            },
        ),
        (
            "response.content_part.done",
            {
                "type": "response.content_part.done",
                "item_id": "msg_fake",
                "output_index": 0,
                "content_index": 0,
                "part": done_part,
            },
        ),
        (
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        ),
        (
            "response.completed",
            {
                "type": "response.completed",
                "response": {**response, "status": "completed", "output": [done_item], "usage": usage},
            },
        ),
    ]
    for number, (_, data) in enumerate(events):
        data["sequence_number"] = number
    return events


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)

    def send_json(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path == "/_requests":
            with LOCK:
                self.send_json(200, RECORDED)
        elif self.path.startswith("/v1/models"):
            self.send_json(200, {"data": [], "object": "list"})
        else:
            self.send_json(404, {"error": {"type": "not_found", "message": self.path}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0]
        if path == "/_expect":
            EXPECTED.clear()
            EXPECTED.update(body)
            return self.send_json(200, EXPECTED)
        with LOCK:
            RECORDED.append(
                {
                    "path": path,
                    "model": body.get("model"),
                    "stream": body.get("stream", False),
                    "x-api-key": self.headers.get("x-api-key"),
                    "authorization": self.headers.get("authorization"),
                }
            )
        credential = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix(
            "Bearer "
        )
        if EXPECTED.get("key") and credential != EXPECTED["key"]:
            return self.send_json(
                401, {"error": {"type": "authentication_error", "message": "invalid x-api-key"}}
            )
        if EXPECTED.get("model") and body.get("model") not in (None, EXPECTED["model"]):
            return self.send_json(
                404, {"error": {"type": "not_found_error", "message": f"model {body.get('model')}"}}
            )
        if path == "/v1/messages/count_tokens":
            self.send_json(200, {"input_tokens": 12})
        elif path == "/v1/messages" and body.get("stream"):
            self.stream(anthropic_events(body.get("model", "")))
        elif path == "/v1/messages":
            text = {"type": "text", "text": REPLY}
            self.send_json(
                200,
                {
                    **anthropic_events(body.get("model", ""))[0][1]["message"],
                    "content": [text],
                    "stop_reason": "end_turn",
                },
            )
        elif path == "/v1/responses":
            self.stream(responses_events(body.get("model", "")))
        else:
            self.send_json(404, {"error": {"type": "not_found", "message": path}})

    def stream(self, events: list[tuple[str, dict]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.01)
        self.close_connection = True


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1]) if len(sys.argv) > 1 else 8000), Handler).serve_forever()
