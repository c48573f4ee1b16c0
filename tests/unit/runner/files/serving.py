"""A real files server on a free local port, over a folder, and an httpx client of it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from runner.files.server import FilesServer, Limits, create_server


@dataclass
class Served:
    root: Path
    server: FilesServer
    client: httpx.Client


@contextlib.contextmanager
def serving(root: Path, limits: Limits | None = None, folder: str = "") -> Iterator[Served]:
    server, port = create_server(("127.0.0.1", 0), str(root), folder, limits)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        yield Served(root / folder if folder else root, server, client)
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join()
