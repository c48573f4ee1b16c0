"""Templates on the real engine: an appliance configured with a bare Debian root (no Python, no Node, no
git) and an Alpine-like musl root seals the first and refuses the second; a project started on the
template runs its agent there, as uid 1000, keeps the template, and its files are served; a template
cannot be chosen after a project's first turn, nor changed. Templates built by POST /templates: a
Dockerfile on our base that adds Go, a devcontainer.json with a local feature, a user of its own and
a postCreateCommand, and a musl image refused; and their removal."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import httpx
import pytest

from rcoder import Appliance, errors
from rcoder.templates import BuildEvent
from tests.eventually import eventually
from tests.integration.browser import open_page
from tests.integration.conftest import chat
from tests.integration.sse import Event, parse, read_all
from tests.integration.test_agents import REAL_AGENTS, REPLY, fake_model_server, run_real_agent, traces
from tests.integration.test_console import open_project, send, shot, sign_in, text_of
from tests.integration.test_containment import assert_it_cannot_get_out, attempt_everything
from tests.integration.test_project_terminal import run, terminal
from tests.integration.tmux import RCODER
from tests.stack import containers, free_port, image, run_appliance

pytestmark = pytest.mark.engine

MUSL = "rcoder/template-test-musl:latest"


@pytest.fixture(scope="module")
def musl_image(engine):
    """An Alpine-like root: musl's loader and nothing else."""
    dockerfile = (
        b"FROM debian:bookworm-slim AS musl\n"
        b"RUN apt-get update -q && apt-get install -y -q --no-install-recommends musl\n"
        b"FROM scratch\n"
        b"COPY --from=musl /usr/lib/x86_64-linux-musl/libc.so /lib/ld-musl-x86_64.so.1\n"
    )
    engine.images.build(fileobj=io.BytesIO(dockerfile), tag=MUSL, rm=True)
    yield MUSL
    engine.images.remove(MUSL, force=True)


@pytest.fixture(scope="module")
def model_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def templated(engine, musl_image, model_port):
    templates = {
        "bare": {"image": "debian:bookworm-slim", "description": "Debian 12, nothing else", "pool_size": 1},
        "alpine": {"image": musl_image},
    }
    with (
        run_appliance(
            engine,
            RCODER_WARM_POOL_SIZE="0",
            RCODER_HOST_OPEN_PORTS=str(model_port),
            config={"templates": templates},
        ) as appliance,
        appliance.client() as client,
    ):
        yield appliance, client


def templates_of(client: httpx.Client) -> dict[str, dict]:
    return {t["name"]: t for t in client.get("/templates").json()["data"]["templates"]}


def ready(client: httpx.Client, name: str) -> dict | None:
    """The template's listing once it is ready (None before)."""
    listed = templates_of(client)
    return listed if listed[name]["state"] == "ready" else None


def settled(client: httpx.Client, name: str) -> dict | None:
    """The template once it is no longer being built."""
    template = templates_of(client)[name]
    return template if template["state"] != "building" else None


def test_templates_are_sealed_and_a_musl_image_is_refused_saying_why(templated):
    _, client = templated
    listed = eventually(lambda: ready(client, "bare"), 180, "template bare sealed")
    assert listed["bare"]["user"] == "1000:1000" and listed["bare"]["source"] == "debian:bookworm-slim"
    alpine = eventually(lambda: settled(client, "alpine"), 60, "template alpine refused")
    assert alpine["state"] == "failed" and "musl" in alpine["error"] and "glibc image" in alpine["error"]


def test_a_project_runs_on_its_template_and_keeps_it(templated, engine):
    appliance, client = templated
    eventually(lambda: ready(client, "bare"), 180, "template bare sealed")
    project = "tpl-bare"
    session = chat(client, project, "create hello.txt", template="bare")["session_id"]
    assert read_all(client, session)[-1].event == "end_turn"
    status = client.get(f"/agent/status/{project}").json()["data"]
    assert status["template"] == "bare"
    container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
    assert container.attrs["Config"]["User"] == "1000:1000"
    assert container.attrs["Config"]["Image"].startswith("sha256:"), "the sealed image, by id"
    found = container.exec_run(["sh", "-c", "command -v python3 node; ls -n /app/project_workspace"]).output
    assert b"python3" not in found and b"node" not in found, "the image's own tools only"
    assert b" 1000 1000 " in found and b"hello.txt" in found, found
    # Its files, served as any project's.
    served = client.get(f"/agent/files/{project}/raw", params={"path": "hello.txt"})
    assert served.status_code == 200, served.text
    written = client.put(f"/agent/files/{project}/raw", params={"path": "up.txt"}, content=b"from the client")
    assert written.status_code == 200, written.text
    owner = container.exec_run(["stat", "-c", "%u:%g", "/app/project_workspace/up.txt"]).output.strip()
    assert owner == b"1000:1000", "written as the template's user"
    # Naming it again is fine; naming another is not.
    chat(client, project, "create again.txt", template="bare")
    other = client.post("/chat", json={"prompt": "hi", "project_id": project, "template": "alpine"})
    assert other.status_code == 409 and "runs on template 'bare'" in other.json()["message"]


def test_a_templates_pool_waits_for_it_and_a_new_project_on_it_claims_a_started_container(templated, engine):
    appliance, client = templated
    eventually(lambda: ready(client, "bare"), 180, "template bare sealed")
    pooled = [f"rcoder.stack={appliance.stack}", "rcoder.pool=true", "rcoder.template=bare"]
    eventually(lambda: healthy(containers(engine, label=pooled)), 120, "a pooled container of template bare")
    project = "tpl-pooled"
    assert (
        read_all(client, chat(client, project, "create hello.txt", template="bare")["session_id"])[-1].event
        == "end_turn"
    )
    container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
    assert container.labels.get("rcoder.pool") == "true", "a claimed pool container (renamed)"
    assert container.attrs["Config"]["User"] == "1000:1000", "made of the template, as a started one is"


def healthy(found: list) -> list:
    """The containers whose health check passes."""
    return [c for c in found if (c.attrs.get("State", {}).get("Health") or {}).get("Status") == "healthy"]


def test_a_template_is_chosen_on_a_first_turn_only_and_must_be_ready(templated):
    _, client = templated
    project = "tpl-default"
    chat(client, project, "create plain.txt")
    late = client.post("/chat", json={"prompt": "hi", "project_id": project, "template": "bare"})
    assert (
        late.status_code == 409 and "a template is chosen on a project's first turn" in late.json()["message"]
    )
    unknown = client.post("/chat", json={"prompt": "hi", "project_id": "tpl-x", "template": "nope"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "TEMPLATE_NOT_FOUND"
    eventually(lambda: settled(client, "alpine"), 60, "template alpine refused")
    refused = client.post("/chat", json={"prompt": "hi", "project_id": "tpl-y", "template": "alpine"})
    assert refused.status_code == 409 and refused.json()["code"] == "TEMPLATE_NOT_READY"
    assert "musl" in refused.json()["message"]
    bad = client.post("/chat", json={"prompt": "hi", "project_id": "tpl-z", "template": "Not A Name"})
    assert bad.status_code == 400


def upload(files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> bytes:
    """A tar.gz of a folder holding `files` (name: content)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755 if name in executable else 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def build(client: httpx.Client, name: str, body: bytes, **params: str) -> list[Event]:
    """POST /templates, read to its end: the build's events."""
    with client.stream(
        "POST",
        "/templates",
        params={"name": name, **params},
        content=body,
        timeout=httpx.Timeout(30, read=900),
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse(response.iter_lines()))


def test_a_dockerfile_on_our_base_adds_go_which_answers_in_the_projects_terminal(templated):
    appliance, client = templated
    dockerfile = (
        f"FROM {image('base')}\n"
        "USER root\n"
        "RUN apt-get update -q && apt-get install -y -q --no-install-recommends golang-go "
        "&& rm -rf /var/lib/apt/lists/*\n"
    )
    events = build(client, "go", upload({"Dockerfile": dockerfile}), description="Go from Debian")
    assert [e for e in events if e.event == "log"], "the build's output streamed"
    assert events[-1].event == "ready" and events[-1].data == {"template": "go"}, events[-3:]
    listed = templates_of(client)["go"]
    assert (listed["origin"], listed["state"], listed["description"]) == ("api", "ready", "Go from Debian")
    project = "tpl-go"
    assert (
        read_all(client, chat(client, project, "create main.go", template="go")["session_id"])[-1].event
        == "end_turn"
    )
    with terminal(appliance, project) as socket:
        run(socket, "go version", "go version go1.")
        run(socket, "echo ID=$(id -u)", "ID=1000")


def test_a_devcontainer_with_a_local_feature_a_non_root_user_and_a_post_create_command(templated, engine):
    appliance, client = templated
    manifest = """{
      // Debian, a user of its own made by a local feature, and what postCreateCommand leaves
      "image": "debian:bookworm-slim",
      "features": {"./add-user": {"username": "dev", "uid": "1001"}},
      "remoteUser": "dev",
      "containerEnv": {"PROJECT_KIND": "devcontainer"},
      "postCreateCommand": "echo made by postCreateCommand > made.txt",
    }"""
    install = '#!/bin/sh\nset -e\nuseradd --create-home --uid "$UID" "$USERNAME"\n'
    body = upload(
        {".devcontainer/devcontainer.json": manifest, ".devcontainer/add-user/install.sh": install},
        executable=(".devcontainer/add-user/install.sh",),
    )
    events = build(client, "devbox", body, kind="devcontainer")
    assert events[-1].event == "ready", events[-5:]
    assert templates_of(client)["devbox"]["user"] == "1001:1001"
    project = "tpl-dev"
    assert (
        read_all(client, chat(client, project, "create hello.txt", template="devbox")["session_id"])[-1].event
        == "end_turn"
    )
    container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
    listing = container.exec_run(["ls", "-n", "/app/project_workspace"]).output.decode()
    assert "made.txt" in listing and "hello.txt" in listing and " 1001 1001 " in listing, listing
    assert container.exec_run(["sh", "-c", "echo $PROJECT_KIND $HOME"]).output.decode().split() == [
        "devcontainer",
        "/home/dev",
    ]
    served = client.get(f"/agent/files/{project}/raw", params={"path": "made.txt"})
    assert served.status_code == 200 and served.text == "made by postCreateCommand\n"


def test_a_musl_build_fails_saying_why_and_templates_are_removed_only_when_unused(templated, musl_image):
    _, client = templated
    events = build(client, "tiny", upload({"Dockerfile": f"FROM {musl_image}\n"}))
    assert events[-1].event == "failed" and "musl" in events[-1].data["message"]
    assert templates_of(client)["tiny"]["state"] == "failed"
    again = client.post(
        "/templates", params={"name": "tiny"}, content=upload({"Dockerfile": "FROM scratch\n"})
    )
    assert again.status_code == 409, "the name is taken until it is removed"
    assert client.delete("/templates/tiny").status_code == 200
    assert "tiny" not in templates_of(client)
    configured = client.delete("/templates/bare")
    assert configured.status_code == 409 and "comes from the configuration" in configured.json()["message"]
    assert client.delete("/templates/nope").status_code == 404
    bad = client.post("/templates", params={"name": "x", "kind": "zip"}, content=b"")
    assert bad.status_code == 400 and "kind must be one of" in bad.json()["message"]
    not_tar = client.post("/templates", params={"name": "y"}, content=b"not a tar at all")
    assert not_tar.status_code == 400 and "tar" in not_tar.json()["message"]


async def test_the_python_client_builds_lists_uses_and_removes_a_template(templated, tmp_path):
    appliance, _ = templated
    folder = tmp_path / "tools"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM debian:bookworm-slim\nRUN echo from the client > /etc/made-by\n")
    async with Appliance(appliance.url, appliance.api_key) as rc:
        events = [event async for event in rc.templates.build("client", folder, description="by rc")]
        assert events[-1] == BuildEvent("ready", "client") and any(e.kind == "log" for e in events)
        listed = {template.name: template for template in await rc.templates.list()}
        assert (listed["client"].state, listed["client"].description) == ("ready", "by rc")
        project = rc.project("tpl-client")
        turn = await project.chat("create hello.txt", template="client")
        async for _ in turn:
            pass
        assert turn.end.stop_reason == "end_turn" and (await project.status()).template == "client"
        with pytest.raises(errors.Conflict, match="projects run on template 'client'"):
            await rc.templates.remove("client")
        with pytest.raises(errors.ConfigError, match="has no template"):
            await rc.project("p", user="ann").chat("hi", template="client")


def test_the_cli_builds_lists_and_removes_a_template_and_chats_on_one(templated, tmp_path):
    appliance, _ = templated
    folder = tmp_path / "tools"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    environment = {**os.environ, "RCODER_URL": appliance.url, "RCODER_API_KEY": appliance.api_key}

    def rcoder(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(RCODER), *args], capture_output=True, text=True, env=environment, timeout=600
        )

    built = rcoder("templates", "build", "cli", str(folder), "--description", "by the CLI")
    assert built.returncode == 0 and built.stdout.strip() == "cli", built.stderr
    assert "Step 1/" in built.stderr or "FROM debian" in built.stderr, "the build's log, on stderr"
    listed = json.loads(rcoder("templates", "ls", "--json").stdout)["templates"]
    assert {"name": "cli", "state": "ready", "description": "by the CLI"}.items() <= next(
        t for t in listed if t["name"] == "cli"
    ).items()
    chatted = rcoder("chat", "-p", "tpl-cli", "--template", "cli", "--json", "create hello.txt")
    assert chatted.returncode == 0, chatted.stderr
    assert json.loads(rcoder("status", "-p", "tpl-cli", "--json").stdout)["template"] == "cli"
    refused = rcoder("templates", "rm", "cli")
    assert refused.returncode == 1 and "projects run on template 'cli'" in refused.stderr
    failed = rcoder("templates", "build", "broken", str(folder), "--path", "Nope.Dockerfile")
    assert failed.returncode == 1 and "rcoder templates build:" in failed.stderr
    assert rcoder("templates", "rm", "broken").returncode == 0


def test_the_consoles_new_project_form_starts_a_project_on_a_template(templated, engine, tmp_path):
    appliance, client = templated
    eventually(lambda: ready(client, "bare"), 180, "template bare sealed")
    project = "tpl-console"
    with open_page(f"{appliance.url}/console/", tmp_path / "profile") as page:
        sign_in(page, appliance.api_key)
        page.wait_for("!!document.querySelector('#new-template option[value=\"bare\"]')", 30)
        assert "bare: Debian 12, nothing else" in text_of(page, "#new-template")
        assert "alpine" not in text_of(page, "#new-template"), "only ready templates are offered"
        page.evaluate("document.querySelector('#new-template').value = 'bare'")
        open_project(page, project)
        send(page, "create hello.txt", "allow")
        page.wait_for("!!document.querySelector('.turn.ended .status.ok')", 90)
        page.wait_for("document.querySelector('#template').innerText === 'template bare'", 30)
        shot(page, "templates-1-project-on-a-template")
    assert client.get(f"/agent/status/{project}").json()["data"]["template"] == "bare"
    container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
    assert container.attrs["Config"]["User"] == "1000:1000"


@pytest.mark.parametrize(("agent_id", "protocol", "model"), REAL_AGENTS)
def test_claude_code_and_codex_run_in_a_template_without_node_through_the_model_broker(
    templated, engine, model_port, agent_id, protocol, model
):
    appliance, client = templated
    eventually(lambda: ready(client, "bare"), 180, "template bare sealed")
    with fake_model_server(engine, appliance.stack, model_port) as fake_model:
        project, key, events = run_real_agent(client, fake_model, agent_id, protocol, model, template="bare")
        container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
        text = "".join(
            e.data["data"]["content"].get("text", "") for e in events if e.event == "agent_message_chunk"
        )
        if events[-1].event != "end_turn":
            print(container.logs().decode()[-5000:])
        assert events[-1].event == "end_turn" and REPLY in text, [(e.event, e.data) for e in events[-3:]]
        assert container.exec_run(["sh", "-c", "command -v node || echo none"]).output.strip() == b"none"
        assert traces(container, key, user="1000:1000") == [], "the key is nowhere in the agent's container"


def test_code_in_a_templated_container_cannot_get_out_nor_change_the_runner(templated, engine):
    """The containment suite's attempts (tests/integration/test_containment.py), from a project on a
    bare Debian template, run by the runner bundle's Python (the image has none): the same outcome as
    in the agent image, and the bundle, mounted read-only, takes no plant."""
    appliance, client = templated
    eventually(lambda: ready(client, "bare"), 180, "template bare sealed")
    project = "tpl-contained"
    chat(client, project, "hello", template="bare")
    container = engine.containers.get(f"rcoder-{appliance.stack}-agent-{project}")
    outcome = attempt_everything(container, "/opt/rcoder-runner/venv/bin/python")
    assert_it_cannot_get_out(outcome, container)
    assert outcome["/opt/rcoder-runner/bin/planted"] == "EROFS", "the bundle is mounted read-only"
    assert client.get(f"/agent/status/{project}").json()["data"]["is_alive"] is True
