"""A real runner on a local port, driving the real demo agent as a subprocess; git isolated from the
host's configs, and a small repository to clone."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from rcoder_rpc import agent_pb2, agent_pb2_grpc
from runner.projects import Projects
from runner.server import create_server


@pytest.fixture(autouse=True)
def git_config(tmp_path_factory, monkeypatch) -> Path:
    """The system git config every git of a test reads (what ConfigureGit writes); no user's config."""
    path = tmp_path_factory.mktemp("git") / "config"
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    return path


@pytest.fixture
async def runner(tmp_path, monkeypatch, git_config):
    monkeypatch.setenv("RCODER_DEMO_CHUNK_DELAY", "0")
    projects = Projects(tmp_path)
    server, port, _ = await create_server("127.0.0.1:0", projects, git_config=git_config)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield agent_pb2_grpc.AgentServiceStub(channel), channel, tmp_path
    await channel.close()
    await projects.close()
    await server.stop(grace=None)


async def collect(stub, session_id: str, after: int = 0) -> list[agent_pb2.ProgressEvent]:
    call = stub.SubscribeProgress(agent_pb2.ProgressRequest(session_id=session_id, after_sequence=after))
    return [event async for event in call]


def git(cwd: Path, *args: str, system: bool = False) -> str:
    """git's output in `cwd`, reading no config but the repository's (and with `system`, the system
    config the test's runner writes); a failure raises."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "" if system else "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "LC_ALL": "C",
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass(frozen=True)
class Origin:
    """A bare repository: `main` (the default branch, two commits), `feature` (off the first), an
    annotated tag `v1` on the first commit."""

    path: Path
    first: str
    second: str
    feature: str

    @property
    def url(self) -> str:
        return self.path.as_uri()


@pytest.fixture(scope="session")
def origin(tmp_path_factory) -> Origin:
    root = tmp_path_factory.mktemp("origin")
    work, bare = root / "work", root / "app.git"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text("first\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "first")
    first = git(work, "rev-parse", "HEAD")
    git(work, "tag", "-a", "v1", "-m", "version 1")
    (work / "README.md").write_text("second\n")
    git(work, "commit", "-q", "-am", "second")
    second = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "-b", "feature", first)
    (work / "feature.txt").write_text("feature\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "feature")
    feature = git(work, "rev-parse", "HEAD")
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "symbolic-ref", "HEAD", "refs/heads/main")
    return Origin(bare, first, second, feature)
