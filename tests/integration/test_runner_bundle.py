"""The runner bundle (images/runner-bundle) brings the runner into images that have none of what it needs:
Debian 12 and 13 roots with no Python, no Node and no git, and a C library of another version, where a
sealed image's container serves gRPC and the demo agent answers; a musl image is refused."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import uuid

import pytest

from appliance.engines.docker.engine import DockerEngine
from appliance.engines.engine import BUNDLE_PATH, ContainerSpec
from appliance.engines.runner_bundle import BUNDLE_LABEL, bundle_volume, remove_unused
from appliance.engines.template_images import probe_image, seal_image
from appliance.errors import TemplateRefused
from appliance.runner_client import RunnerClient
from rcoder_rpc import agent_pb2
from tests.stack import ROOT, image, remove

pytestmark = pytest.mark.engine

WORKSPACE = "/app/project_workspace"


@pytest.fixture(scope="module")
def bundle(engine) -> str:
    return bundle_volume(engine, image("runner-bundle"))


@pytest.fixture(scope="module")
def trixie(engine) -> str:
    """Debian 13's minimal root (glibc 2.41, the bundle's is 2.36), made by debootstrap when no registry
    has it."""
    name = "debian:trixie-slim"
    subprocess.run(
        ["bash", "scripts/lib/seed-base-image"], cwd=ROOT, check=True, env={**os.environ, "BASE_IMAGE": name}
    )
    return name


@pytest.fixture
def network(engine):
    made = engine.networks.create(f"rcoder-bundle-test-{uuid.uuid4().hex[:8]}", driver="bridge")
    yield made.name
    made.remove()


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_the_runner_serves_and_the_demo_agent_answers_in_an_image_with_none_of_its_tools(
    engine, bundle, network, release, request
):
    source = "debian:bookworm-slim" if release == "bookworm" else request.getfixturevalue("trixie")
    for tool in ("python3", "node", "git"):
        found = engine.containers.run(source, ["sh", "-c", f"command -v {tool} || echo none"], remove=True)
        assert found.strip() == b"none", f"{source} has {tool}"
    account = probe_image(engine, source, bundle)
    assert (account.uid, account.gid, account.home) == (1000, 1000, "/home/agent"), "root's image: ours"
    sealed = f"rcoder/bundle-test-{release}:{uuid.uuid4().hex[:8]}"
    seal_image(engine, account, WORKSPACE, sealed, {"rcoder.test": "bundle"})
    name = f"rcoder-bundle-test-{uuid.uuid4().hex[:8]}"
    spec = ContainerSpec(
        name=name,
        image=sealed,
        labels={"rcoder.test": "bundle"},
        network=network,
        volume=name,
        volume_labels={"rcoder.test": "bundle"},
        mount_path=WORKSPACE,
        environment={
            "PATH": f"{account.path}:{BUNDLE_PATH}/bin",
            "HOME": account.home,
            "RCODER_WORKSPACE": WORKSPACE,
        },
        tmpfs={
            "/tmp": "rw,nosuid,size=64m",
            account.home: f"rw,nosuid,uid={account.uid},gid={account.gid},mode=0700",
        },
        user=account.user,
        runner_bundle=bundle,
    )
    try:
        events = asyncio.run(chat(spec, "create hello.txt"))
        container = engine.containers.get(name)
        assert events[-1] == "end_turn", events
        listing = container.exec_run(["ls", "-ln", WORKSPACE]).output.decode()
        assert "hello.txt" in listing and " 1000 1000 " in listing, listing
        # The image's own tools stay first; the bundle's git comes after them.
        which = container.exec_run(["sh", "-c", "command -v git; echo $PATH"]).output.decode().split()
        assert which == [f"{BUNDLE_PATH}/bin/git", f"{account.path}:{BUNDLE_PATH}/bin"]
        assert container.exec_run(["git", "--version"]).exit_code == 0
        container.reload()
        assert container.attrs["Config"]["User"] == "1000:1000"
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    finally:
        remove(engine.containers.list(all=True, filters={"name": name}))
        engine.volumes.get(name).remove(force=True)
        engine.images.remove(sealed, force=True)


async def chat(spec: ContainerSpec, prompt: str) -> list[str]:
    """Start the container, send the demo agent `prompt`, and return the turn's event types."""
    engine, runners = DockerEngine("", 30), RunnerClient()
    try:
        container = await engine.start(spec)
        address = f"{container.ip}:50051"
        assert await runners.serving(address, wait=60), "the bundle's runner never served"
        reply = await runners.chat(address, agent_pb2.ChatRequest(project_id="p", prompt=prompt))
        assert reply.success, reply.error
        kinds = []
        async with asyncio.timeout(60):
            async for event in runners.subscribe(address, reply.session_id, 0):
                kinds.append(event.sub_type or event.message_type)
                if event.message_type == "SessionPromptEnd":
                    break
        return kinds
    finally:
        await runners.close()
        await engine.close()


def test_a_musl_image_is_refused_saying_why(engine, bundle):
    dockerfile = (
        b"FROM debian:bookworm-slim AS musl\n"
        b"RUN apt-get update -q && apt-get install -y -q --no-install-recommends musl\n"
        b"FROM scratch\n"
        b"COPY --from=musl /usr/lib/x86_64-linux-musl/libc.so /lib/ld-musl-x86_64.so.1\n"
    )
    alpine_like, _ = engine.images.build(
        fileobj=io.BytesIO(dockerfile), tag="rcoder/bundle-test-musl:latest", rm=True
    )
    try:
        with pytest.raises(TemplateRefused, match=r"musl.*glibc image"):
            probe_image(engine, alpine_like.id, bundle)
    finally:
        engine.images.remove(alpine_like.id, force=True)


def test_a_new_bundle_removes_the_volumes_of_older_ones_that_nothing_mounts(engine, bundle):
    older = [
        engine.volumes.create(f"rcoder-runner-test{i}{uuid.uuid4().hex[:6]}", labels={BUNDLE_LABEL: "old"})
        for i in range(2)
    ]
    user = engine.containers.create("debian:bookworm-slim", ["true"], volumes={older[1].name: {"bind": "/x"}})
    try:
        removed = remove_unused(engine, keep=bundle)
        assert older[0].name in removed and older[1].name not in removed and bundle not in removed
        assert {v.name for v in engine.volumes.list(filters={"label": BUNDLE_LABEL})} >= {
            bundle,
            older[1].name,
        }
    finally:
        user.remove(force=True)
        older[1].remove(force=True)
