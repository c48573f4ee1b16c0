"""A running agent or desktop container and the address of its runner; and how one is started: created,
started and waited for until its runner answers SERVING, or removed again if any of that fails.

The lifecycle (a project's or a user's container) and the warm pool (a container for no project yet)
both start containers this way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from appliance.engines.engine import Container, ContainerSpec, Engine
from appliance.errors import ContainerFailed
from appliance.runner_client import RunnerClient
from rcoder_rpc.contract import RUNNER_PORT

# How long one readiness check waits for the runner before the container itself is looked at again.
READY_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class RunningContainer:
    """A running agent or desktop container, and the address of its runner."""

    container: Container
    address: str


def runner_address(container: Container) -> str:
    return f"{container.ip}:{RUNNER_PORT}"


async def start_container(
    engine: Engine, runners: RunnerClient, spec: ContainerSpec, start_seconds: float
) -> RunningContainer:
    """Create and start a container and wait until its runner is ready (`start_seconds` at most);
    remove it if that fails."""
    container = await engine.start(spec)
    if not container.ip:
        await engine.remove(container.id)
        raise ContainerFailed(
            "container {name} has no address on network {network}", name=spec.name, network=spec.network
        )
    running = RunningContainer(container, runner_address(container))
    try:
        await wait_ready(engine, runners, running, start_seconds)
    except BaseException:
        await engine.remove(container.id)
        raise
    return running


async def wait_ready(
    engine: Engine, runners: RunnerClient, running: RunningContainer, start_seconds: float
) -> None:
    """Wait until the runner answers SERVING (the moment it can be reached); fail early, with its
    logs, if the container exits, and after `start_seconds` with its last log lines."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + start_seconds
    while not await runners.serving(running.address, wait=READY_WAIT_SECONDS):
        if loop.time() > deadline:
            logs = await engine.logs(running.container.id)
            raise ContainerFailed(
                "the runner in {name} did not become ready within {seconds} s; its last log lines:\n{logs}",
                name=running.container.name,
                seconds=start_seconds,
                logs=logs,
            )
        state = await engine.inspect(running.container.id)
        if not state.running:
            logs = await engine.logs(running.container.id)
            raise ContainerFailed(
                "container {name} stopped while starting; its log:\n{logs}", name=state.name, logs=logs
            )
