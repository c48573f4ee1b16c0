"""The web console (/console, and / which opens it) in Chromium, through the proxy: sign in, a prompt's
turn shown live, a permission request answered with its button, the desktop in its tab, the project's
files (browsed, viewed, downloaded, uploaded by a drop, deleted), a shell in its Terminal tab, a narrow
screen. Screenshots go to .build/test-output/console/."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat

from tests.integration.browser import Page, open_page
from tests.integration.conftest import chat, project_id
from tests.integration.sse import read_all
from tests.stack import ROOT, agent_containers

pytestmark = pytest.mark.engine

SCREENSHOTS = ROOT / ".build" / "test-output" / "console"
NOVNC_CONNECTED = (
    "(() => { const frame = document.querySelector('.desktop iframe');"
    " const page = frame && frame.contentDocument;"
    " return !!page && page.title.endsWith(' - noVNC') && !!page.querySelector('canvas'); })()"
)


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)") if name.endswith("top") else None
    path = page.screenshot(SCREENSHOTS / f"{name}.png")
    print(f"screenshot {path}")
    return path


def text_of(page: Page, selector: str) -> str:
    return page.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''")


def sign_in(page: Page, api_key: str, user: str = "me") -> None:
    page.wait_for("!!document.querySelector('#api-key')", 30)
    page.type("#api-key", api_key)
    page.evaluate(f"document.querySelector('#user').value = {json.dumps(user)}")
    page.click("#sign-in")
    page.wait_for("!!document.querySelector('#new-project')", 30)


def open_project(page: Page, project: str) -> None:
    page.type("#new-project", project)
    page.click("#open-project")
    page.wait_for("!!document.querySelector('#prompt')", 30)


def send(page: Page, prompt: str, policy: str) -> None:
    page.evaluate(f"document.querySelector('#policy').value = {json.dumps(policy)}")
    page.type("#prompt", prompt)
    page.click("#send")


def test_the_console_runs_turns_answers_permissions_and_shows_the_desktop(appliance, engine, stack, tmp_path):
    project, user = project_id(), f"u{uuid.uuid4().hex[:10]}"
    with open_page(f"{appliance.url}/console/", tmp_path / "profile") as page:
        page.wait_for("!!document.querySelector('#api-key')", 30)
        page.type("#api-key", "wrong-key")
        page.click("#sign-in")
        page.wait_for("document.querySelector('.sign-in .error').innerText.includes('x-api-key')", 15)
        page.evaluate("document.querySelector('#api-key').value = ''")
        page.type("#api-key", appliance.api_key)
        page.evaluate(f"document.querySelector('#user').value = {json.dumps(user)}")
        page.click("#sign-in")
        page.wait_for("!!document.querySelector('#new-project')", 30)
        page.type("#new-project", project)
        page.click("#open-project")
        page.wait_for("!!document.querySelector('#prompt')", 30)

        # A prompt, and its reply as it streams.
        send(page, "create hello.txt", "allow")
        page.wait_for("document.querySelector('.turn .reply').innerText.includes('I wrote hello.txt')", 60)
        page.wait_for("!!document.querySelector('.turn.ended .status.ok')", 30)
        shot(page, "1-reply")
        first = text_of(page, ".turn")
        assert "✔\nWrite hello.txt" in first and "end_turn" in first

        # A permission request, allowed with its button.
        send(page, "create asked.txt", "ask")
        page.wait_for(
            "document.querySelectorAll('.turn').length === 2 && !!document.querySelector('.turn:last-child .ask button.allow')",
            60,
        )
        shot(page, "2-permission-asked")
        [container] = agent_containers(engine, stack, project)
        assert container.exec_run(["cat", "/app/project_workspace/asked.txt"]).exit_code != 0
        page.click(".turn:last-child .ask button.allow")
        page.wait_for("!!document.querySelector('.turn:last-child.ended .status.ok')", 60)
        answered = text_of(page, ".turn:last-child")
        shot(page, "3-permission-answered")
        assert "answered: allow" in answered or "You chose: Allow" in answered
        assert (
            container.exec_run(["cat", "/app/project_workspace/asked.txt"]).output
            == b"Hello from the RCoder demo agent!\n"
        )

        # The user's desktop, connected, in its tab.
        page.click("[data-tab=desktop]")
        page.wait_for(NOVNC_CONNECTED, 120)
        time.sleep(2)  # the first frames
        desktop = shot(page, "4-desktop")
        page.click("#audio")
        page.wait_for("['connected', 'playing'].includes(document.querySelector('#audio').dataset.state)", 20)
        page.type("#ime-text", "hello 你好")
        page.click("#ime-send")
        page.wait_for("document.querySelector('#desktop-status').innerText === 'Typed.'", 30)

        # The projects, and a narrow screen.
        page.evaluate("location.hash = '#/'")
        page.wait_for(f"!!document.querySelector('tr[data-project={json.dumps(project)}] .badge.idle')", 30)
        shot(page, "5-projects")
        page.call(
            "Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True
        )
        page.evaluate(f"location.hash = '#/p/{project}'")
        page.wait_for("document.querySelectorAll('.turn.ended').length === 1", 30)
        shot(page, "6-narrow")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"

    stddev = ImageStat.Stat(Image.open(desktop).convert("L")).stddev[0]
    assert stddev > 10, f"the desktop's screenshot is blank (stddev {stddev:.1f})"


def test_an_agents_html_is_shown_as_text(appliance, tmp_path):
    """The reply's Markdown becomes elements, and any HTML in it stays text."""
    with open_page(f"{appliance.url}/console/", tmp_path / "profile") as page:
        page.wait_for("!!document.querySelector('#api-key')", 30)
        rendered = page.call(
            "Runtime.evaluate",
            expression="import('./markdown.js').then(({ markdown }) => { const box = document.createElement('div');"
            " box.append(markdown('# Title\\n\\n**bold** <img src=x onerror=alert(1)> [a](javascript:alert(1))"
            " [b](https://example.org)\\n\\n- one\\n- two\\n\\n```\\n<script>x</script>\\n```'));"
            " return box.innerHTML; })",
            awaitPromise=True,
            returnByValue=True,
        )["result"]["value"]

    assert "<h1>Title</h1>" in rendered and "<strong>bold</strong>" in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered and "<img" not in rendered
    assert 'href="https://example.org"' in rendered and "javascript:" not in rendered.split("href")[-1]
    assert "<ul><li>one</li><li>two</li></ul>" in rendered and "&lt;script&gt;x&lt;/script&gt;" in rendered


def test_the_page_needs_no_key_and_nothing_from_elsewhere_but_its_calls_do(appliance):
    anonymous = httpx.Client(base_url=appliance.url)
    page = anonymous.get("/console", follow_redirects=True)
    assert page.status_code == 200 and str(page.url).endswith("/console/")

    files = set(re.findall(r'(?:src|href)="([^"#]+)"', page.text))
    queue = [f for f in files if f.endswith(".js")]
    while queue:  # every module the page imports (statically or not), the ones they import, their styles
        source = anonymous.get(f"/console/{queue.pop()}")
        assert source.status_code == 200
        assert source.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        for used in re.findall(r'(?:from |import\(\s*|href: )"\./([^"]+)"', source.text):
            if used not in files:
                files.add(used)
                queue.extend([used] if used.endswith((".js", ".mjs")) else [])
    assert {"app.js", "api.js", "stream.js", "turn.js", "markdown.js", "desktop.js", "console.css"} <= files
    assert {
        "files.js",
        "terminal.js",
        "vendor/xterm.mjs",
        "vendor/addon-fit.mjs",
        "vendor/xterm.css",
    } <= files
    for name in files:
        served = anonymous.get(f"/console/{name}")
        assert served.status_code == 200, name
        assert not re.search(
            r"""(?:src|href|from|import\(|url\()\s*=?\s*["']?(?:https?:)?//""", served.text
        ), name
    assert "export{" in anonymous.get("/console/vendor/xterm.mjs").text, "xterm.js as an ES module"
    assert anonymous.get("/agents").status_code == 401, "the API stays behind the key"
    assert anonymous.get("/console/../pyproject.toml").status_code in (401, 404)


def test_the_root_url_opens_the_console(appliance, tmp_path):
    for base in (appliance.url, appliance.gateway_url):
        root = httpx.get(f"{base}/")  # no API key
        assert root.status_code in (301, 302, 303, 307, 308) and root.headers["location"] == "/console/", base

    with open_page(f"{appliance.url}/", tmp_path / "profile") as page:
        page.wait_for("!!document.querySelector('#api-key')", 30)
        shot(page, "7-root")
        assert page.evaluate("location.pathname") == "/console/"
        assert page.evaluate("document.title") == "RCoder console"


def workspace_with_files(client: httpx.Client, engine, stack: str, project: str):
    """A project whose first turn made its workspace (hello.txt), with a folder and a binary file added."""
    read_all(client, chat(client, project, "create hello.txt", permission_policy="allow")["session_id"])
    [container] = agent_containers(engine, stack, project)
    made = container.exec_run(
        ["sh", "-c", "mkdir -p src && printf 'print(42)\\n' > src/app.py && printf 'a\\000b' > data.bin"],
        workdir="/app/project_workspace",
        user="agent",
    )
    assert made.exit_code == 0, made.output
    return container


def rows_of(page: Page) -> list[str]:
    return page.evaluate(
        "[...document.querySelectorAll('#files tbody tr[data-name]')].map((r) => r.dataset.name)"
    )


def test_the_files_tab_browses_views_downloads_and_uploads(appliance, client, engine, stack, tmp_path):
    project = project_id()
    container = workspace_with_files(client, engine, stack, project)
    anonymous = httpx.Client(base_url=appliance.url, timeout=30)  # a link opened in the browser: no key

    with open_page(f"{appliance.url}/console/", tmp_path / "profile") as page:
        sign_in(page, appliance.api_key)
        open_project(page, project)
        page.click("[data-tab=files]")
        page.wait_for("!!document.querySelector('#files tr[data-name=\"hello.txt\"]')", 60)
        assert rows_of(page) == ["src", "data.bin", "hello.txt"], "folders first, then by name"
        assert "used of" in text_of(page, "#files-usage")
        shot(page, "8-files")

        # A text file shown, a binary one not.
        page.click('#files tr[data-name="hello.txt"] button.link')
        page.wait_for("!!document.querySelector('#file-view')", 30)
        assert (
            page.evaluate("document.querySelector('#file-view').textContent")
            == "Hello from the RCoder demo agent!\n"
        )
        shot(page, "9-file-view")
        link = page.evaluate("document.querySelector('#view-download').getAttribute('href')")
        page.click('#files tr[data-name="data.bin"] button.link')
        page.wait_for("!!document.querySelector('#file-binary')", 30)
        assert text_of(page, "#file-binary").startswith("binary file")

        # The file's download link works without the key: it carries a files token.
        assert "rcoder_token=" in link and "download=1" in link
        downloaded = anonymous.get(link)
        assert downloaded.status_code == 200 and downloaded.content == b"Hello from the RCoder demo agent!\n"
        assert downloaded.headers["content-disposition"].startswith("attachment")
        without = httpx.get(f"{appliance.url}{link.replace('rcoder_token=', 'other=')}", timeout=30)
        assert without.status_code in (401, 403), (
            "not without it (nor with the cookie the proxy gave `anonymous`)"
        )

        # Into a folder, and its zip.
        page.click('#files tr[data-name="src"] button.link')
        page.wait_for("!!document.querySelector('#files tr[data-name=\"app.py\"]')", 30)
        assert text_of(page, "#crumbs").split() == ["workspace", "/", "src"]
        folder = anonymous.get(
            page.evaluate("document.querySelector('#download-folder').getAttribute('href')")
        )
        assert folder.status_code == 200
        assert zipfile.ZipFile(io.BytesIO(folder.content)).read("app.py") == b"print(42)\n"

        # Files dropped on the tab go into the folder shown, one PUT each.
        page.evaluate(
            "(() => { const t = new DataTransfer();"
            " t.items.add(new File(['dropped \u2713\\n'], 'notes.txt', { type: 'text/plain' }));"
            " t.items.add(new File([new Uint8Array([0, 1, 2, 255])], 'raw.bin'));"
            " document.querySelector('#drop').dispatchEvent("
            "   new DragEvent('drop', { dataTransfer: t, bubbles: true, cancelable: true })); })()"
        )
        page.wait_for("document.querySelector('#files-status').innerText === 'Uploaded 2 files.'", 60)
        page.wait_for("!!document.querySelector('#files tr[data-name=\"raw.bin\"]')", 30)
        shot(page, "10-uploaded")
        read = container.exec_run(["cat", "/app/project_workspace/src/notes.txt"])
        assert read.output == "dropped \u2713\n".encode()
        raw = container.exec_run(["od", "-An", "-tu1", "/app/project_workspace/src/raw.bin"]).output
        assert raw.split() == [b"0", b"1", b"2", b"255"]

        # A folder dropped from this machine's files goes in whole: its entries are walked.
        site = tmp_path / "site"
        (site / "css").mkdir(parents=True)
        (site / "index.html").write_text("<h1>hi</h1>\n")
        (site / "css" / "style.css").write_text("h1 { color: teal; }\n")
        page.evaluate("document.querySelector('#files-status').textContent = ''")
        page.drop("#drop", [site])
        page.wait_for("document.querySelector('#files-status').innerText === 'Uploaded 2 files.'", 60)
        page.wait_for("!!document.querySelector('#files tr[data-name=\"site\"]')", 30)
        style = container.exec_run(["cat", "/app/project_workspace/src/site/css/style.css"])
        assert style.output == b"h1 { color: teal; }\n"

        # Deleted after a confirmation (answered here, as a person would).
        page.evaluate("window.confirm = (message) => { window.asked = message; return true; }")
        page.click('#files tr[data-name="notes.txt"] button.delete')
        page.wait_for("!document.querySelector('#files tr[data-name=\"notes.txt\"]')", 30)
        assert page.evaluate("window.asked") == "Delete src/notes.txt?"
        assert container.exec_run(["test", "-e", "/app/project_workspace/src/notes.txt"]).exit_code != 0
        page.click('#files tr[data-name="site"] button.delete')
        page.wait_for("!document.querySelector('#files tr[data-name=\"site\"]')", 30)
        assert page.evaluate("window.asked") == "Delete the folder src/site and everything in it?"
        assert container.exec_run(["test", "-e", "/app/project_workspace/src/site"]).exit_code != 0

        page.click("#crumbs button")
        page.wait_for("!!document.querySelector('#files tr[data-name=\"hello.txt\"]')", 30)


TERMINAL_LINES = (
    "(() => { const b = document.querySelector('#terminal').terminal.buffer.active; const lines = [];"
    " for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true).trim());"
    " return lines; })()"
)


def run_in_terminal(page: Page, command: str, line: str, timeout: float = 30) -> None:
    """Type `command` into xterm (its textarea, as a keyboard), and wait for `line` in its buffer."""
    page.type("#terminal textarea", command)
    page.press("Enter")
    page.wait_for(f"{TERMINAL_LINES}.includes({json.dumps(line)})", timeout)


def test_the_terminal_tab_runs_a_command(appliance, client, engine, stack, tmp_path):
    project = project_id()
    read_all(client, chat(client, project, "create hello.txt", permission_policy="allow")["session_id"])

    with open_page(f"{appliance.url}/console/", tmp_path / "profile") as page:
        sign_in(page, appliance.api_key)
        open_project(page, project)
        page.click("[data-tab=terminal]")
        page.wait_for("!!(document.querySelector('#terminal') || {}).terminal", 30)
        page.wait_for("document.querySelector('#terminal-status').innerText.startsWith('A shell')", 60)

        run_in_terminal(page, "echo $((6 * 7)) from $(pwd)", "42 from /app/project_workspace", 60)
        run_in_terminal(page, "cat hello.txt", "Hello from the RCoder demo agent!")
        cols, rows = page.evaluate("(t => [t.cols, t.rows])(document.querySelector('#terminal').terminal)")
        run_in_terminal(page, "stty size", f"{rows} {cols}")
        shot(page, "11-terminal")

        # A narrower window: xterm fits itself again, and the shell learns its new size.
        page.call(
            "Emulation.setDeviceMetricsOverride", width=700, height=700, deviceScaleFactor=1, mobile=False
        )
        page.wait_for(f"document.querySelector('#terminal').terminal.cols < {cols}", 30)
        cols, rows = page.evaluate("(t => [t.cols, t.rows])(document.querySelector('#terminal').terminal)")
        run_in_terminal(page, "stty size", f"{rows} {cols}")

        page.type("#terminal textarea", "exit 3")
        page.press("Enter")
        page.wait_for("document.querySelector('#terminal-status').innerText.includes('exited')", 30)
        assert text_of(page, "#terminal-status") == "The shell exited (status 3)."
        shot(page, "12-terminal-exited")
