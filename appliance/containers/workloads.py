"""What each container is for, and what it is made of: one project's agent, one user's desktop, or a
warm-pool container waiting for a project; and which container (by name or labels) serves which.

A project's agent container is named `rcoder-<stack>-agent-<project>`, whether it was started for the
project (it then also carries the project's label) or claimed from the warm pool (renamed to that
name; labels cannot change). Its workspace is the volume named after the project, unless the project
was born in a pool container: then it keeps that container's fresh volume, bound to it in the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import json_format

from appliance import chat_request, labels
from appliance.config import Config
from appliance.engines.engine import Container, ContainerSpec
from rcoder_rpc import agent_pb2

AGENT_TMPFS = {
    "/tmp": "rw,nosuid,size=256m",
    "/home/agent": "rw,nosuid,uid=1000,gid=1000,mode=0700,size=512m",
}


@dataclass(frozen=True)
class Workload:
    """What a container is for: one project's agent, one user's desktop (shared by their projects), or
    a pooled agent container (key: its slot)."""

    kind: str
    key: str  # the project id, the user id, or the pool slot
    spec: ContainerSpec

    @property
    def name(self) -> str:
        return self.spec.name


def prestart_template(config: Config) -> str:
    """The request a new agent container's runner starts its agent for, before any chat (JSON): the
    default agent as a chat that names none would get it, with no model provider (so no key is in the
    container's environment)."""
    request = agent_pb2.ChatRequest(project_id="prestarted")
    request.agent_config.agent_server.CopyFrom(chat_request.agent_server(config, None))
    return json_format.MessageToJson(request, indent=None)


class Workloads:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._docker = config.engine_config
        self._stack = config.engine_config.stack
        self._prestart = prestart_template(config)
        # Projects whose workspace exists: {project: its volume}.
        self._workspaces: dict[str, str] = {}
        # The most a workspace or home volume made now may hold (None: unbounded, in Docker's local
        # volumes; the gateway sets it once it knows the volume driver works).
        self.volume_bytes: int | None = None

    def agent_name(self, project_id: str) -> str:
        return f"rcoder-{self._stack}-agent-{project_id}"

    def pool_name(self, slot: str) -> str:
        return f"rcoder-{self._stack}-pool-{slot}"

    def agent(self, project_id: str) -> Workload:
        volume = self._workspaces.get(project_id, f"rcoder-{self._stack}-ws-{project_id}")
        spec = self._agent_spec(
            name=self.agent_name(project_id),
            labels=labels.labels_for(self._stack, labels.KIND_AGENT, project_id=project_id),
            volume=volume,
            volume_labels=labels.labels_for(self._stack, labels.KIND_WORKSPACE, project_id=project_id),
        )
        return Workload(labels.KIND_AGENT, project_id, spec)

    def pod_name(self, pod_id: str) -> str:
        return f"rcoder-{self._stack}-pod-{pod_id}"

    def pod(self, pod_id: str) -> Workload:
        """A pod: an agent container its projects share, each in its own folder of the pod's volume. No
        agent is started ahead of a chat: none would be in the right folder."""
        pod = {labels.POD: pod_id}
        spec = self._agent_spec(
            name=self.pod_name(pod_id),
            labels=labels.labels_for(self._stack, labels.KIND_POD) | pod,
            volume=f"rcoder-{self._stack}-pod-{pod_id}",
            volume_labels=labels.labels_for(self._stack, labels.KIND_WORKSPACE) | pod,
            prestart=False,
        )
        return Workload(labels.KIND_POD, pod_id, spec)

    def pooled(self, slot: str) -> Workload:
        """A warm-pool container: an agent container for no project yet, on a fresh volume of its own."""
        pool = {labels.POOL: "true"}
        spec = self._agent_spec(
            name=self.pool_name(slot),
            labels=labels.labels_for(self._stack, labels.KIND_AGENT) | pool,
            volume=f"rcoder-{self._stack}-ws-pool-{slot}",
            volume_labels=labels.labels_for(self._stack, labels.KIND_WORKSPACE) | pool,
        )
        return Workload(labels.KIND_POOL, slot, spec)

    def _agent_spec(
        self,
        name: str,
        labels: dict[str, str],
        volume: str,
        volume_labels: dict[str, str],
        prestart: bool = True,
    ) -> ContainerSpec:
        environment = self._environment()
        if prestart:
            environment["RCODER_PRESTART_AGENT"] = self._prestart
        return ContainerSpec(
            name=name,
            image=self._docker.agent_image,
            labels=labels,
            network=self._docker.network_base_name,
            volume=volume,
            volume_labels=volume_labels,
            mount_path=self._config.workspace_path,
            environment=environment,
            tmpfs=AGENT_TMPFS,
            **self._volume(),
            **self._default_limits(),
        )

    def desktop(self, user_id: str) -> Workload:
        """The user's desktop: their home (a volume) holds a folder per project."""
        spec = ContainerSpec(
            name=f"rcoder-{self._stack}-desktop-{user_id}",
            image=self._docker.desktop_image,
            labels=labels.labels_for(self._stack, labels.KIND_DESKTOP, user_id=user_id),
            network=self._docker.desktop_network,
            volume=f"rcoder-{self._stack}-home-{user_id}",
            volume_labels=labels.labels_for(self._stack, labels.KIND_HOME, user_id=user_id),
            mount_path="/home/agent",
            environment={**self._environment(), "USER_ID": user_id},
            tmpfs={"/tmp": "rw,nosuid,size=1g"},
            shm_bytes=256 * 1024**2,
            **self._volume(),
            **self._default_limits(),
        )
        return Workload(labels.KIND_DESKTOP, user_id, spec)

    def of(self, name: str, container_labels: dict[str, str]) -> Workload | None:
        """The project's agent, the user's desktop or the pod a container of this stack (its name and
        labels) serves; None for the gateway, the proxy, and pool containers no project has claimed."""
        kind = container_labels.get(labels.KIND)
        if kind == labels.KIND_AGENT and container_labels.get(labels.PROJECT):
            return self.agent(container_labels[labels.PROJECT])
        prefix = self.agent_name("")
        if kind == labels.KIND_AGENT and container_labels.get(labels.POOL) and name.startswith(prefix):
            return self.agent(name.removeprefix(prefix))
        if kind == labels.KIND_DESKTOP and container_labels.get(labels.USER):
            return self.desktop(container_labels[labels.USER])
        if kind == labels.KIND_POD and container_labels.get(labels.POD):
            return self.pod(container_labels[labels.POD])
        return None

    def unclaimed(self, container: Container) -> bool:
        """A pool container no project has claimed."""
        return bool(container.labels.get(labels.POOL)) and container.name.startswith(self.pool_name(""))

    def know_workspace(self, project_id: str, volume: str) -> None:
        self._workspaces[project_id] = volume

    def has_workspace(self, project_id: str) -> bool:
        """Whether the project has files already (then it must not get a fresh pool container)."""
        return project_id in self._workspaces

    def is_bound(self, volume: str) -> bool:
        """Whether the volume is some project's workspace."""
        return volume in self._workspaces.values()

    def _default_limits(self) -> dict[str, int | float]:
        docker = self._docker
        return {
            "memory_bytes": docker.memory_limit_bytes,
            "cpus": docker.cpu_limit,
            "pids_limit": docker.pids_limit,
        }

    def _volume(self) -> dict[str, str | int | None]:
        """Sized volumes from the plugin once the gateway found it working; Docker's local otherwise."""
        if self.volume_bytes is None:
            return {}
        return {"volume_driver": self._docker.workspace_volume_driver, "volume_bytes": self.volume_bytes}

    def _environment(self) -> dict[str, str]:
        environment = {"RCODER_DEFAULT_AGENT": self._config.default_agent_id}
        if self._config.otlp_endpoint:
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = self._config.otlp_endpoint
        return environment
