"""scripts/lib/build.sh with either of Docker's builders, and what scripts/build-images made: the OCI
labels on every image, and pip in every image refusing a package without its hash."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from tests.stack import IMAGES, ROOT, image
from tests.unhashed_wheel import REFUSED, write_unhashed_wheel

pytestmark = pytest.mark.engine

OCI = "org.opencontainers.image."


def buildkit_client(tmp_path: Path) -> dict[str, str]:
    """The environment in which `docker build` uses BuildKit: the docker on PATH if it has buildx, else
    Debian's docker.io client (20.10 has BuildKit built in), put first on PATH."""
    if subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False).returncode == 0:
        return {"DOCKER_BUILDKIT": "1"}
    debian = Path("/usr/bin/docker")
    assert debian.exists(), "no docker client here builds with BuildKit (no buildx, no /usr/bin/docker)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(debian)
    return {"DOCKER_BUILDKIT": "1", "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def builder_env(builder: str, tmp_path: Path) -> dict[str, str]:
    chosen = buildkit_client(tmp_path) if builder == "buildkit" else {"DOCKER_BUILDKIT": "0"}
    return {**os.environ, **chosen}


def build(tag: str, dockerfile: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = f'. scripts/lib/build.sh && build_image "{tag}" "{dockerfile}"'
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def tag(engine):
    tag = f"rcoder-test/build:{uuid.uuid4().hex[:8]}"
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        engine.images.remove(tag, force=True)
    # The classic builder leaves the container of a step that failed; its command names the tag.
    for container in engine.containers.list(all=True, filters={"status": "exited"}):
        if tag in " ".join(container.attrs["Config"]["Cmd"] or []):
            container.remove(force=True)


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_an_image_builds_with_each_step_shown_once_and_the_oci_labels(builder, tag, engine, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM debian:bookworm-slim\nRUN echo {tag} one\nRUN echo {tag} two\n")

    built = build(tag, dockerfile, builder_env(builder, tmp_path))

    assert built.returncode == 0, built.stdout + built.stderr
    shown = [line.strip() for line in built.stdout.splitlines() if f"RUN echo {tag}" in line]
    assert len(shown) == 2 and shown[0].endswith("one") and shown[1].endswith("two"), built.stdout
    assert "built in" in built.stdout
    labels = engine.images.get(tag).labels
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    assert labels[OCI + "revision"] == revision.strip()
    assert labels[OCI + "licenses"] == "MIT OR Apache-2.0"
    assert {OCI + key for key in ("source", "version", "created", "title")} <= set(labels)


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_a_build_that_fails_fails_with_its_log(builder, tag, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM debian:bookworm-slim\nRUN echo {tag} about to fail && false\n")

    built = build(tag, dockerfile, builder_env(builder, tmp_path))

    assert built.returncode != 0
    assert f"error: building {tag} failed" in built.stderr
    assert "about to fail" in built.stderr, "the log's last lines show the failing step"


@pytest.mark.parametrize("built", IMAGES)
def test_every_image_carries_the_oci_labels(built, engine):
    labels = engine.images.get(built).labels
    assert {OCI + key for key in ("source", "version", "revision", "created", "licenses")} <= set(labels)


# Every Python the images install into: the appliance's venv, and the agent image's Node and fetch venvs.
VENVS = [
    ("gateway", "/opt/rcoder"),
    ("agent", "/opt/rcoder"),
    ("agent", "/opt/node"),
    ("agent", "/opt/mcp-fetch"),
    ("desktop", "/opt/rcoder"),
]


@pytest.mark.parametrize(("name", "venv"), VENVS)
def test_pip_in_an_image_refuses_a_package_without_its_hash(name, venv, engine, tmp_path):
    wheel = write_unhashed_wheel(tmp_path)
    os.chmod(tmp_path, 0o755)  # the image's user reads it

    tried = subprocess.run(
        ["docker", "run", "--rm", "--user", "root", "--entrypoint", f"{venv}/bin/pip", "-v", f"{tmp_path}:/w:ro",
         image(name), "install", "--no-index", "--dry-run", f"/w/{wheel.name}"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert tried.returncode != 0, tried.stdout
    assert REFUSED in tried.stderr
