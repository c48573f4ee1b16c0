"""A Docker engine API on loopback that answers from a table, for the engine backends' unit tests: the
real docker SDK talks to it, so a test can make one call of a sequence answer what a race would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# A route's answer: (HTTP status, JSON body), from the query's parameters (each JSON-decoded if it can be)
# and, under "body", the request's JSON body, if it has one.
Answer = Callable[[dict[str, Any]], tuple[int, Any]]
API_VERSION = "1.41"


def _params(query: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, [value, *_] in parse_qs(query).items():
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


@contextmanager
def fake_docker_api(routes: dict[tuple[str, str], Answer]) -> Iterator[tuple[str, list[str]]]:
    """Serve `routes` ({(method, path without the version): answer}) on loopback: the engine's address
    and the log of requests made ("GET /services"). Any other request is a 404 naming it."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            path = url.path.removeprefix(f"/v{API_VERSION}")
            requests.append(f"{method} {path}")
            if path == "/version":
                status, body = 200, {"ApiVersion": API_VERSION, "Version": "20.10.24"}
            elif (method, path) in routes:
                params = _params(url.query)
                if length := int(self.headers.get("Content-Length") or 0):
                    params["body"] = json.loads(self.rfile.read(length))
                status, body = routes[(method, path)](params)
            else:
                status, body = 404, {"message": f"no route for {method} {path}"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def do_DELETE(self) -> None:
            self._answer("DELETE")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
