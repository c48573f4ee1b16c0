"""What the container lifecycle needs of an engine, and the small types it speaks in.

A backend (`docker/` for one Docker host, `swarm/` for a Docker Swarm) implements `Engine`; nothing
outside a backend knows an engine's API or its JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


class NameTaken(Exception):
    """A container with that name exists already (another start won the race)."""


class NameGone(Exception):
    """No container has that name (any more): another claim renamed it first."""


@dataclass(frozen=True)
class ContainerSpec:
    """What to run: one container, on one network, with its volume (or host folder) mounted and its limits."""

    name: str
    image: str
    labels: dict[str, str]
    network: str
    volume: str
    volume_labels: dict[str, str]
    mount_path: str
    environment: dict[str, str] = field(default_factory=dict)
    memory_bytes: int = 2 * 1024**3
    cpus: float = 2.0
    # Memory plus swap; None: no swap beyond the memory limit.
    memory_swap_bytes: int | None = None
    pids_limit: int = 512
    tmpfs: dict[str, str] = field(default_factory=dict)
    shm_bytes: int | None = None
    # The volume's driver, and the most it may hold, set when the volume is created (None: unbounded).
    volume_driver: str = "local"
    volume_bytes: int | None = None
    # The command (empty: the image's); and whether a missing volume (or folder) is made (else: NotFound).
    command: tuple[str, ...] = ()
    create_volume: bool = True
    # A folder on the engine's host, bind-mounted at mount_path instead of the volume (engine_config.
    # workspaces: host); a missing one is made beneath the engine's HostFolders root.
    bind_source: str | None = None
    # The user it runs as ("uid:gid"; empty: the image's); and, for a template's container
    # (appliance/templates.py), the runner bundle (Engine.runner_bundle's), started from (None: the
    # image has its runner built in, as the agent image has).
    user: str = ""
    runner_bundle: str | None = None


@dataclass(frozen=True)
class HostFolders:
    """Where workspaces are folders on the engine's host (engine_config.workspaces: host): beneath
    `root`, made and listed by one-shot containers of `image` labelled `labels`, since the gateway
    cannot reach the host's files nor give them to the agents' user."""

    root: str
    image: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Capacity:
    """What the engine's host has to give one container: its CPUs and its memory."""

    cpus: float
    memory_bytes: int


@dataclass(frozen=True)
class Container:
    """A container as the engine reports it."""

    id: str
    name: str
    status: str
    ip: str | None
    labels: dict[str, str]
    created: datetime | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def paused(self) -> bool:
        return self.status == "paused"

    @property
    def alive(self) -> bool:
        """Running, or paused (frozen with its memory kept, ready to go on)."""
        return self.running or self.paused


@dataclass(frozen=True)
class ContainerGone:
    """What happened to a container that stopped or went: died, was removed, ran out of memory."""

    container_id: str
    action: str  # "die", "destroy" or "oom"
    labels: dict[str, str]
    name: str = ""
    exit_code: int | None = None

    def describe(self) -> str:
        detail = f" with exit code {self.exit_code}" if self.exit_code is not None else ""
        return f"{self.action}{detail}"


@dataclass(frozen=True)
class Network:
    """A network for containers: its bridge interface on the host, and the host's address on it (where
    containers reach the host, e.g. the proxy's model port)."""

    bridge: str
    host_address: str


# Where a template's container has the runner bundle (images/runner-bundle), read-only.
BUNDLE_PATH = "/opt/rcoder-runner"
# How a container that starts from the bundle starts: the bundle's tini and init as its entry point
# (whatever the image's was), and the bundle's probe as its health check (the agent image's own
# HEALTHCHECK, which a template's image lacks; durations in nanoseconds, as Docker takes them).
BUNDLE_ENTRYPOINT = (f"{BUNDLE_PATH}/bin/tini", "--", f"{BUNDLE_PATH}/bin/rcoder-agent-init")
_SECOND = 1_000_000_000
BUNDLE_HEALTHCHECK = {
    "test": ["CMD", f"{BUNDLE_PATH}/bin/rcoder-runner-probe"],
    "interval": 15 * _SECOND,
    "timeout": 5 * _SECOND,
    "start_period": 20 * _SECOND,
    "retries": 3,
}


@dataclass(frozen=True)
class TemplateImage:
    """A template's sealed image (appliance/templates.py) as containers start from it: the image (its
    id, or its digest in the stack's registry), the user its agents run as and their home, and the
    image's own PATH (the runner bundle's bin/ goes after it)."""

    image: str
    uid: int
    gid: int
    home: str
    path: str

    @property
    def user(self) -> str:
        return f"{self.uid}:{self.gid}"


class Engine(Protocol):
    async def ping(self) -> None: ...

    async def capacity(self) -> Capacity:
        """The host's CPUs and memory: no container can be given more."""

    async def ensure_network(self, name: str, labels: dict[str, str]) -> Network:
        """Create the network when the deployer has not."""

    async def volume_quota_problem(self, driver: str) -> str | None:
        """Why `driver` cannot make volumes of a given size here (None: it can)."""

    async def find(self, labels: dict[str, str]) -> list[Container]:
        """Every container carrying all of `labels`, running or not."""

    async def inspect(self, container_id: str) -> Container: ...

    async def find_named(self, name: str) -> Container | None:
        """The container of that name, in whatever state, or None."""

    async def rename(self, current: str, new: str) -> Container:
        """Give the container named `current` the name `new`, only if it still has `current` (so two
        claims cannot both rename it). NameGone if it does not, NameTaken if `new` is in use."""

    async def pause(self, container_id: str) -> None: ...

    async def unpause(self, container: Container) -> Container:
        """Resume the paused container; it as it runs now (on Swarm a new task, with a new address)."""

    async def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        """The volumes carrying all of `labels`: {name: labels}."""

    async def remove_volume(self, name: str) -> None:
        """Remove the volume; one already gone is not an error."""

    async def host_folders(self) -> list[str]:
        """The names of the folders directly beneath the HostFolders root (none without host folders)."""

    async def start(self, spec: ContainerSpec) -> Container:
        """Create and start the container (and its volume); nothing is left behind if that fails.

        Raises NameTaken when a container of that name exists."""

    def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
        """Containers carrying `labels` that stop or go, as it happens."""

    async def logs(self, container_id: str) -> str:
        """The last lines of the container's log."""

    async def remove(self, container_id: str) -> None:
        """Remove the container whatever its state; one already gone is not an error."""

    async def runner_bundle(self, image: str) -> str:
        """The runner bundle of `image` on this engine: the volume holding it, made and filled from it
        when missing (on a swarm, the manager's, where templates are probed: the nodes get the bundle
        in each sealed image)."""

    async def seal_template(
        self, source: str, tag: str, workspace_path: str, labels: dict[str, str], bundle: str
    ) -> TemplateImage:
        """`source` looked at from inside by the runner bundle (the volume `bundle`), then built as `tag`
        with the workspace folder owned by the user its agents run as. TemplateRefused when it cannot
        be a template's (a musl image)."""

    async def build_image(
        self,
        context: Path,
        dockerfile: str,
        tag: str,
        build_args: dict[str, str],
        line: Callable[[str], None],
    ) -> str:
        """Build `tag` from a build context (a tar file) and its Dockerfile's path in it, each line of
        the build's output to `line` (from any thread); the image. TemplateRefused when it fails."""

    async def remove_image(self, image: str) -> None:
        """Remove the image; one already gone, or still used by a container, is left."""

    async def isolate(
        self,
        stack: str,
        bridges: Sequence[str],
        open_ports: Sequence[int],
        containers_only: Sequence[int],
        egress: Sequence[str] | None,
    ) -> None:
        """Make the host firewall hold for the stack's containers (firewall.py), which leave their
        host by `bridges`: the host's own services closed to them but `open_ports` and
        `containers_only` (open to them alone), and under an egress policy nothing beyond the host but
        the `egress` networks. Idempotent; FirewallError when it cannot hold."""

    async def close(self) -> None: ...
