"""With pyroscope_endpoint set, the gateway sends its CPU profile to that Pyroscope server, every ten
seconds (here a small HTTP server of the test's, which keeps what reaches Pyroscope's push API)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.eventually import eventually
from tests.stack import run_appliance

pytestmark = pytest.mark.engine
# Pyroscope's push API (connect-protocol protobuf), as pyroscope-io 1.x sends.
PUSH = "/push.v1.PusherService/Push"


@pytest.fixture
def pyroscope() -> Iterator[tuple[str, list[bytes]]]:
    """A Pyroscope stand-in on loopback: its address, and the body of each push it got."""
    uploads: list[bytes] = []

    class Ingest(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if body.startswith(b"\x1f\x8b"):  # gzip, by content-encoding
                body = gzip.decompress(body)
            if urlsplit(self.path).path == PUSH:
                uploads.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", uploads
    finally:
        server.shutdown()


def test_the_gateway_sends_its_profile_to_pyroscope(engine, pyroscope):
    address, uploads = pyroscope
    with run_appliance(engine, RCODER_PYROSCOPE_ENDPOINT=address, RCODER_WARM_POOL_SIZE="0"):
        eventually(lambda: uploads, 45, "a profile reaching Pyroscope")
    # The push names the service and the stack among its labels (protobuf strings).
    assert b"rcoder-gateway" in uploads[0] and b"test" in uploads[0], uploads[0][:200]
