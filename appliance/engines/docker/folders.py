"""Workspaces in folders on this engine's host (engine_config.workspaces: host): beneath one root, each
bind-mounted into the containers that serve it.

The gateway cannot make or read them itself: it may run in a container of its own, and it lacks
CAP_CHOWN to give a new folder to the agents' user. A one-shot container of the agent image does it,
as root with only the capabilities that takes, no network, and nothing but the root mounted.
"""

from __future__ import annotations

import contextlib
import os

import docker.errors
from docker.types import Mount

from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.engine import HostFolders
from appliance.errors import ContainerFailed

# The agents' user and group in the agent and desktop images.
AGENT_UID = 1000
# Where the one-shot container sees the root.
ROOT_MOUNT = "/folders"


def missing_bind_source(exc: docker.errors.APIError) -> bool:
    """Docker refused a container because the source of a bind mount does not exist."""
    return exc.status_code == 400 and "bind source path does not exist" in str(exc.explanation)


class Folders:
    """The folders beneath `folders.root`; the methods block (call them in the SDK's worker threads)."""

    def __init__(self, sdk: DockerSdk, folders: HostFolders) -> None:
        self._sdk = sdk
        self._folders = folders

    def make(self, path: str) -> None:
        """Make the folder `path` (and the root, if missing), owned by the agents' user."""
        relative = os.path.relpath(path, self._folders.root)
        if relative == "." or relative.split(os.sep)[0] == "..":
            raise ValueError(f"{path} is not beneath {self._folders.root}")
        uid = str(AGENT_UID)
        command = ["install", "-d", "-o", uid, "-g", uid, f"{ROOT_MOUNT}/{relative}"]
        # A `volumes` bind, unlike a mount, makes a missing root (as root's, mode 755).
        root = {"volumes": {self._folders.root: {"bind": ROOT_MOUNT, "mode": "rw"}}}
        # install changes the new folder's owner, then its mode (FOWNER: no longer root's).
        self._run(command, ["CHOWN", "DAC_OVERRIDE", "FOWNER"], root, path)

    def names(self) -> list[str]:
        """The folders directly beneath the root (none when there is no root yet)."""
        command = ["find", ROOT_MOUNT, "-mindepth", "1", "-maxdepth", "1", "-type", "d", "-printf", "%f\\n"]
        root = {"mounts": [Mount(ROOT_MOUNT, self._folders.root, type="bind", read_only=True)]}
        try:
            output = self._run(command, ["DAC_READ_SEARCH"], root, self._folders.root)
        except docker.errors.APIError as exc:
            if missing_bind_source(exc):
                return []
            raise
        return output.splitlines()

    def _run(self, command: list[str], capabilities: list[str], root: dict, folder: str) -> str:
        """Run `command` (on `folder`) as root with only `capabilities` and the root mounted; its output."""
        client = self._sdk.client()
        try:
            container = client.containers.create(
                self._folders.image,
                command,
                user="0",
                labels=self._folders.labels,
                network_mode="none",
                cap_drop=["ALL"],
                cap_add=capabilities,
                security_opt=["no-new-privileges:true"],
                read_only=True,
                mem_limit=64 * 1024**2,
                pids_limit=16,
                detach=True,
                **root,
            )
        except docker.errors.ImageNotFound as exc:
            raise ContainerFailed(
                "image {image} is missing on the engine; build it with scripts/build-images",
                image=self._folders.image,
            ) from exc
        try:
            container.start()
            if container.wait()["StatusCode"] != 0:
                errors = container.logs(stdout=False, stderr=True).decode(errors="replace").strip()
                raise ContainerFailed(
                    "the host folder {folder} could not be made or listed: {errors}",
                    folder=folder,
                    errors=errors,
                )
            return container.logs(stdout=True, stderr=False).decode(errors="replace")
        finally:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
