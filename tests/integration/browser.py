"""Headless Chromium driven over the DevTools protocol (Debian's chromium; no download needed)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.eventually import eventually
from tests.stack import free_port

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
]
# Keys Page.press knows: the DOM's name → (Windows virtual key code, the text it types).
KEYS = {"Enter": (13, "\r"), "Tab": (9, "\t"), "Escape": (27, "")}


class Page:
    def __init__(self, socket) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._socket.recv(timeout=30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float) -> None:
        eventually(lambda: self.evaluate(expression), timeout, f"{expression} in the page")

    def click(self, selector: str) -> None:
        """A real click (mouse down and up) in the middle of the element `selector` finds."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type(self, selector: str, text: str) -> None:
        """Focus the element `selector` finds and type `text` into it, as a keyboard would."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def press(self, key: str) -> None:
        """Press and release a key of KEYS in the focused element, as a keyboard would (Input.insertText
        types text, but a "\\r" in it is no Enter key)."""
        code, text = KEYS[key]
        self.call(
            "Input.dispatchKeyEvent", type="keyDown", key=key, code=key, windowsVirtualKeyCode=code, text=text
        )
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key, windowsVirtualKeyCode=code)

    def drop(self, selector: str, paths: list[Path]) -> None:
        """Drag files or folders of this machine onto the element `selector` finds, and drop them there,
        as a person would from a file manager (a folder comes as a directory entry)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            self.call("Input.dispatchDragEvent", type=kind, x=box[0], y=box[1], data=data)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path


@contextlib.contextmanager
def open_page(url: str, profile: Path) -> Iterator[Page]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is needed (scripts/test installs Debian's package)"
    port = free_port()
    process = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def page_target() -> dict | None:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
            return next((t for t in targets if t["type"] == "page"), None)

        target = eventually(page_target, 30, "chromium opening its DevTools port")
        with connect(target["webSocketDebuggerUrl"], max_size=None) as socket:
            page = Page(socket)
            page.call("Page.enable")
            page.call("Page.navigate", url=url)
            yield page
    finally:
        process.kill()
        process.wait()
