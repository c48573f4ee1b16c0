"""A real runner on a local port, driving the real demo agent as a subprocess; git isolated from the
host's configs."""

from __future__ import annotations

import os
import subprocess
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
