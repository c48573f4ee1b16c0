"""The web console (/console) in Chromium, through the proxy: sign in, a prompt's turn shown live, a
permission request answered with its button, the desktop in its tab, a narrow screen. Screenshots go
to .build/test-output/console/."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat

from tests.integration.browser import Page, open_page
from tests.integration.conftest import project_id
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
    while queue:  # every module the page imports, and the ones they import
        source = anonymous.get(f"/console/{queue.pop()}")
        assert source.status_code == 200 and source.headers["content-type"].startswith("text/javascript")
        for imported in re.findall(r'from "\./([^"]+)"', source.text):
            if imported not in files:
                files.add(imported)
                queue.append(imported)
    assert {"app.js", "api.js", "stream.js", "turn.js", "markdown.js", "desktop.js", "console.css"} <= files
    for name in files:
        text = anonymous.get(f"/console/{name}").text
        assert not re.search(r"""(?:src|href|from|import\(|url\()\s*=?\s*["']?(?:https?:)?//""", text), name
    assert anonymous.get("/agents").status_code == 401, "the API stays behind the key"
    assert anonymous.get("/console/../pyproject.toml").status_code in (401, 404)
