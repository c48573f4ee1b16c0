"""`pulumi up` for real: the CLI, its Python host and the docker provider that scripts/pulumi-toolchain
builds, run the program in infra/ on the local engine, as an operator would and as scripts/ci-stack
does in CI. The appliance is driven through its proxy, updated by a config change, and destroyed
without a trace. Every pulumi command's output is shown as it comes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import uuid

import httpx
import pytest

from appliance.engines.firewall import Firewall
from infra import smoke, teardown
from tests.integration.conftest import wait_listening
from tests.integration.pulumi_cli import ROOT, Stack, run, wait_for
from tests.integration.reach import host_targets, opened, reach
from tests.stack import agent_containers, free_port

# The toolchain's first build takes many minutes (scripts/test starts it in the background).
pytestmark = [pytest.mark.engine, pytest.mark.timeout(3600)]
IMAGE_TAG = "pulumi"  # not the dev tag the other integration tests use; kept on destroy and reused


def labelled(engine, stack: str) -> list[str]:
    """Everything on the engine labelled with the stack."""
    selector = {"label": [f"rcoder.stack={stack}"]}
    return [
        *(f"container {c.name}" for c in engine.containers.list(all=True, filters=selector)),
        *(f"network {n.name}" for n in engine.networks.list(filters=selector)),
        *(f"volume {v.name}" for v in engine.volumes.list(filters=selector)),
    ]


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def drive(engine, stack: str, outputs: dict, api_key: str, ports: tuple[int, int]) -> str:
    """Health and a demo chat (infra/smoke.py), a preview, the docs, the key required, and the host out
    of the agent's reach (the gateway's and the proxy's `ports` among others); the project."""
    url = outputs["url"]
    project = smoke.check(url, api_key)
    [container] = agent_containers(engine, stack, project)
    container.exec_run(
        ["python3", "-m", "http.server", "5173", "--directory", "/app/project_workspace"], detach=True
    )
    wait_listening(container, 5173)
    attempts = reach(container, host_targets(*ports))
    assert opened(attempts) == [], f"the agent reaches nothing on the host: {attempts}"
    preview = httpx.get(f"{url}/proxy/{project}/5173/smoke.txt", headers={"x-api-key": api_key})
    docs = httpx.get(outputs["docs_url"])
    refused = httpx.get(f"{url}/agents")

    assert preview.status_code == 200 and preview.text == "Hello from the RCoder demo agent!\n"
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert refused.status_code == 401, "the API key from the stack's secret is required"
    printenv = engine.containers.get(outputs["gateway_container"]).exec_run(["printenv"]).output.decode()
    assert api_key not in printenv, "the key reaches the gateway as a file, not in its environment"
    return project


def test_pulumi_up_runs_the_appliance_then_updates_it_and_destroy_leaves_nothing(
    engine, toolchain, show, tmp_path
):
    stack = Stack.create(f"pul{uuid.uuid4().hex[:8]}", tmp_path, show)
    api_key = secrets.token_hex(16)
    ports = (free_port(), free_port())
    settings = {"port": ports[0], "proxyPort": ports[1], "modelPort": free_port(), "imageTag": IMAGE_TAG}
    for key, value in settings.items():
        stack.set_config(key, str(value))
    stack.set_config("apiKey", api_key, secret=True)
    try:
        stack.pulumi("up", "--yes", "--skip-preview", timeout=1800)
        outputs = stack.outputs()
        old_url = outputs["url"]
        drive(engine, stack.name, outputs, api_key, ports)

        again = stack.pulumi("up", "--yes", "--skip-preview", "--expect-no-changes")
        assert re.search(r"^\s+\d+ unchanged$", again, re.MULTILINE), "a second up changes nothing"

        stack.set_config("proxyPort", str(free_port()))
        update = stack.pulumi("up", "--yes", "--skip-preview")
        new_url = stack.outputs()["url"]
        assert re.search(r"rcoder-proxy (created )?replace", update), "the proxy moves to the new port"
        assert new_url != old_url and wait_for(lambda: answers(new_url), 60)
        assert not answers(old_url), "nothing listens on the old port any more"
    finally:  # each step also when the one before failed, so that nothing is left behind
        teardown.remove_runtime_containers(engine, stack.name)
        destroyed = stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
        leftovers = teardown.remove_leftovers(engine, stack.name)
        stack.pulumi("stack", "rm", "--yes", "--force", timeout=60, check=False)

    assert re.search(r"^\s+- \d+ deleted$", destroyed, re.MULTILINE)
    assert leftovers and all(item.startswith(f"volume rcoder-{stack.name}-ws-") for item in leftovers), (
        f"only workspaces (kept on destroy, for --volumes) were left: {leftovers}"
    )
    assert asyncio.run(Firewall(stack.name).bridges()) == [], "the host firewall rules went with the stack"
    assert labelled(engine, stack.name) == []
    assert not (ROOT / f"Pulumi.{stack.name}.yaml").exists()


def test_scripts_ci_stack_stands_a_stack_up_smoke_tests_it_and_removes_it(engine, toolchain, show, tmp_path):
    """scripts/ci-stack, the Automation API path, against the same engine."""
    env = {
        "RCODER_PULUMI_PORT": str(free_port()),
        "RCODER_PULUMI_PROXY_PORT": str(free_port()),
        "RCODER_PULUMI_MODEL_PORT": str(free_port()),
        "RCODER_PULUMI_IMAGE_TAG": IMAGE_TAG,
        "BUILD_ID": f"pul{uuid.uuid4().hex[:6]}",  # in the stack's name: ci-<BUILD_ID>-<random>
        "TMPDIR": str(tmp := tmp_path / "tmp"),  # where it puts its throwaway backend
    }
    tmp.mkdir()
    output = run(["bash", "scripts/ci-stack"], env, tmp_path / "ci-stack.log", show, timeout=1800)
    [name] = re.findall(r"^==> Stack (ci-\S+) on file://", output, re.MULTILINE)

    assert "smoke: a demo chat streamed" in output and f"==> Stack {name} removed" in output
    assert re.search(r"^\s+- \d+ deleted$", output, re.MULTILINE), "pulumi destroy ran"
    assert labelled(engine, name) == []
    assert not (ROOT / f"Pulumi.{name}.yaml").exists()
    assert list(tmp.iterdir()) == [], "its throwaway backend went with it"


def test_the_toolchain_is_what_pyproject_pins(toolchain):
    """The plugin the SDK asks for is the one installed, and the CLI is no older than the SDK."""

    def pulumi(*args: str) -> str:
        env = {**os.environ, **toolchain}
        return subprocess.run(["pulumi", *args], env=env, capture_output=True, text=True, check=True).stdout

    plugins = [(p["name"], p["kind"], p["version"]) for p in json.loads(pulumi("plugin", "ls", "--json"))]
    cli = tuple(int(part) for part in pulumi("version").strip().lstrip("v").split("."))
    pins = dict(re.findall(r'"(pulumi|pulumi-docker)==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()))

    assert plugins == [("docker", "resource", pins["pulumi-docker"])]
    assert cli >= tuple(int(part) for part in pins["pulumi"].split(".")), "a CLI older than its SDK"
