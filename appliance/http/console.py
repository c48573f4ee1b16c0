"""The web console at /console: static files (plain ES modules, nothing fetched from elsewhere) that
use the API from the browser, on the same origin, so it works through the proxy as it does here.

The files hold no secret, so they are served without the API key, as /api/docs is; every API call
the page makes sends the key the person entered, kept in the tab's sessionStorage. The appliance's
root (/) opens the console.

xterm.js (the Terminal tab) is not in the repository: the gateway image's console-vendor stage puts
it in console/vendor/ from npm (images/gateway/console/package-lock.json), so a source checkout has
no vendor/ and the tab says so.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Request, Sanic, redirect
from sanic_ext import openapi

CONSOLE_PREFIX = "/console"
CONSOLE_FILES = Path(__file__).with_name("console")


def setup_console(app: Sanic) -> None:
    app.static(f"{CONSOLE_PREFIX}/", CONSOLE_FILES, name="console", index="index.html")

    @app.get(CONSOLE_PREFIX, name="console_page")
    @openapi.exclude()
    async def console_page(request: Request):
        # The page's modules are relative to it, so it must be the folder.
        return redirect(f"{CONSOLE_PREFIX}/")

    @app.get("/", name="console_root")
    @openapi.exclude()
    async def console_root(request: Request):
        # A person who opens the appliance's address finds the console.
        return redirect(f"{CONSOLE_PREFIX}/")
