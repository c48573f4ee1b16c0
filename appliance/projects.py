"""Which project a request means, the key it is stored under, and the pod it lives in, if any.

A project is a unit of work: its workspace (files) and its sessions with an agent. A /chat project has
a container of its own, or a folder in a pod it shares with other projects, and its id is unique
across the appliance. A Computer Agent project lives in its user's desktop, and two users may each
have a project "p1": such a project is stored as "<user_id>/<project_id>" (ids never contain "/").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RCODER = "RCoder"
COMPUTER = "ComputerAgentRunner"


@dataclass(frozen=True)
class ProjectRef:
    project_id: str
    user_id: str | None = None  # set for a Computer Agent project: the desktop's owner

    @property
    def key(self) -> str:
        """The project's key in the store."""
        return f"{self.user_id}/{self.project_id}" if self.user_id else self.project_id

    @property
    def service_type(self) -> str:
        return COMPUTER if self.user_id else RCODER

    @classmethod
    def from_key(cls, key: str) -> ProjectRef:
        user_id, separator, project_id = key.partition("/")
        return cls(project_id, user_id) if separator else cls(key)


@dataclass(frozen=True)
class Pod:
    """A container several /chat projects share (the seed's pod_id): each has its own agent process and
    its own folder of the pod's workspace, laid out by tenant and space."""

    pod_id: str
    folder: str  # "<tenant_id>/<space_id>/<project_id>"

    @classmethod
    def of(cls, pod_id: str, tenant_id: str, space_id: str, project_id: str) -> Pod:
        return cls(pod_id, f"{tenant_id}/{space_id}/{project_id}")


class Placements:
    """Which projects live in a pod: {project key: its pod}, from the store at start-up and each
    placement since. A project placed in a pod stays there."""

    def __init__(self) -> None:
        self._pods: dict[str, Pod] = {}

    def load(self, pods: Mapping[str, Pod]) -> None:
        self._pods.update(pods)

    def pod_of(self, key: str) -> Pod | None:
        return self._pods.get(key)

    def place(self, key: str, pod: Pod) -> None:
        self._pods[key] = pod

    def __contains__(self, key: object) -> bool:
        return key in self._pods
