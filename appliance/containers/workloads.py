"""What each container is for: one project's agent, one user's desktop, a pod, or a warm-pool container
waiting for a project; which container (by name or labels) serves which; and which projects have a
workspace. What a container is made of is its kind's template (appliance/containers/template.py).

A project's agent container is named `rcoder-<stack>-agent-<project>`, whether it was started for the
project (it then also carries the project's label) or claimed from the warm pool (renamed to that
name; labels cannot change). Its workspace is the volume named after the project, unless the project
was born in a pool container: then it keeps that container's fresh volume, bound to it in the store.

With host folders (engine_config.workspaces: host), workspaces are folders beneath projects_dir on the
engine's host instead: `<dir>/<project>`, `<dir>/pods/<pod>` and `<dir>/users/<user>` (a desktop's
home), so the projects named "pods" and "users" are refused there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass

from google.protobuf import json_format

from appliance import chat_request, labels
from appliance.config import Config
from appliance.containers.template import Template
from appliance.engines.engine import Container, ContainerSpec
from appliance.errors import BadRequest
from appliance.projects import ProjectRef
from appliance.templates import Templates

# The folders beneath projects_dir that hold pods' and desktops' workspaces, not a project's.
PODS_FOLDER = "pods"
USERS_FOLDER = "users"


@dataclass(frozen=True)
class Workload:
    """What a container is for: one project's agent, one user's desktop (shared by their projects), or
    a pooled agent container (key: its slot)."""

    kind: str
    key: str  # the project id, the user id, or the pool slot
    spec: ContainerSpec
    # The template a project's agent runs on (appliance/templates.py); None: the agent image.
    template: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name


def prestart_template(config: Config) -> str:
    """The request a new agent container's runner starts its agent for, as JSON in the container's
    environment (RCODER_PRESTART_AGENT); see chat_request.prestarted."""
    return json_format.MessageToJson(chat_request.prestarted(config), indent=None)


class Workloads:
    def __init__(self, config: Config, templates: Templates | None = None) -> None:
        """`templates`: the templates projects may start on (None: none, every project on the agent image)."""
        self._stack = config.engine_config.stack
        self._agent = Template.agent(config)
        self._templates = templates
        # Projects started on a template: {project: its template}.
        self._template_of: dict[str, str] = {}
        self._desktop = Template.desktop(config)
        self._files = Template.files(config)
        self._prestart = {"RCODER_PRESTART_AGENT": prestart_template(config)}
        # The host folder holding the workspaces, when they are not volumes.
        self._host_root = config.host_workspaces
        # Projects whose workspace exists: {project: its volume}.
        self._workspaces: dict[str, str] = {}
        # The most a workspace or home volume made now may hold (None: unbounded, in Docker's local
        # volumes, until the gateway finds the volume driver working), or why it is not bounded.
        self._volume_bytes: int | None = None
        self._quota_problem: str | None = None

    @property
    def volume_bytes(self) -> int | None:
        return self._volume_bytes

    @property
    def quota_problem(self) -> str | None:
        """Why workspaces are not bounded in size, if they are not (the engine's, or the configuration)."""
        return self._quota_problem

    def size_volumes(self, volume_bytes: int) -> None:
        """Make new workspace and home volumes with the sized-volume plugin, holding `volume_bytes` at most."""
        self._volume_bytes = volume_bytes

    def leave_unsized(self, problem: str) -> None:
        """Make new volumes Docker's local ones, unbounded, for this reason."""
        self._quota_problem = problem

    def agent_name(self, project_id: str) -> str:
        return f"rcoder-{self._stack}-agent-{project_id}"

    def pool_name(self, slot: str) -> str:
        return f"rcoder-{self._stack}-pool-{slot}"

    def _host_folder(self, *parts: str) -> str | None:
        """The host folder of a workspace, or None: workspaces are volumes."""
        return os.path.join(self._host_root, *parts) if self._host_root is not None else None

    def bind_template(self, project_id: str, template: str) -> None:
        """The project runs on the template from now on (its first turn named it)."""
        self._template_of[project_id] = template

    def know_templates(self, bound: dict[str, str]) -> None:
        """{project: template} of the projects started on one before (from the store)."""
        self._template_of.update(bound)

    def template_of(self, project_id: str) -> str | None:
        return self._template_of.get(project_id)

    def uses_template(self, template: str) -> bool:
        """Whether some project runs on the template."""
        return template in self._template_of.values()

    def agent(self, project_id: str) -> Workload:
        if self._host_root is not None and project_id in (PODS_FOLDER, USERS_FOLDER):
            raise BadRequest(
                "project id {project_id!r} is reserved while workspaces are host folders; choose another",
                project_id=project_id,
            )
        volume = self._workspaces.get(project_id, f"rcoder-{self._stack}-ws-{project_id}")
        template = self._template_of.get(project_id)
        spec = self._made_of(template).spec(
            name=self.agent_name(project_id),
            labels=labels.labels_for(self._stack, labels.KIND_AGENT, project_id=project_id),
            volume=volume,
            volume_labels=labels.labels_for(self._stack, labels.KIND_WORKSPACE, project_id=project_id),
            volume_bytes=self._volume_bytes,
            environment=self._prestart,
            bind_source=self._host_folder(project_id),
        )
        return Workload(labels.KIND_AGENT, project_id, spec, template)

    def _made_of(self, template: str | None) -> Template:
        """What an agent container on the template is made of (None: the agent image)."""
        if template is None or self._templates is None:
            return self._agent
        return self._templates.agent_template(self._agent, template)

    def pod_name(self, pod_id: str) -> str:
        return f"rcoder-{self._stack}-pod-{pod_id}"

    def pod(self, pod_id: str) -> Workload:
        """A pod: an agent container its projects share, each in its own folder of the pod's volume. No
        agent is started ahead of a chat: none would be in the right folder."""
        pod = {labels.POD: pod_id}
        spec = self._agent.spec(
            name=self.pod_name(pod_id),
            labels=labels.labels_for(self._stack, labels.KIND_POD) | pod,
            volume=f"rcoder-{self._stack}-pod-{pod_id}",
            volume_labels=labels.labels_for(self._stack, labels.KIND_WORKSPACE) | pod,
            volume_bytes=self._volume_bytes,
            bind_source=self._host_folder(PODS_FOLDER, pod_id),
        )
        return Workload(labels.KIND_POD, pod_id, spec)

    def pooled(self, slot: str, template: str | None = None) -> Workload:
        """A warm-pool container: an agent container for no project yet, on a fresh volume of its own,
        made of the template's image (None: the agent image)."""
        pool = {labels.POOL: "true"} | ({labels.TEMPLATE: template} if template else {})
        spec = self._made_of(template).spec(
            name=self.pool_name(slot),
            labels=labels.labels_for(self._stack, labels.KIND_AGENT) | pool,
            volume=f"rcoder-{self._stack}-ws-pool-{slot}",
            volume_labels=labels.labels_for(self._stack, labels.KIND_WORKSPACE) | pool,
            volume_bytes=self._volume_bytes,
            environment=self._prestart,
        )
        return Workload(labels.KIND_POOL, slot, spec, template)

    def desktop(self, user_id: str) -> Workload:
        """The user's desktop: their home (a volume) holds a folder per project."""
        spec = self._desktop.spec(
            name=f"rcoder-{self._stack}-desktop-{user_id}",
            labels=labels.labels_for(self._stack, labels.KIND_DESKTOP, user_id=user_id),
            volume=f"rcoder-{self._stack}-home-{user_id}",
            volume_labels=labels.labels_for(self._stack, labels.KIND_HOME, user_id=user_id),
            volume_bytes=self._volume_bytes,
            environment={"USER_ID": user_id},
            bind_source=self._host_folder(USERS_FOLDER, user_id),
        )
        return Workload(labels.KIND_DESKTOP, user_id, spec)

    def files_name(self, ref: ProjectRef) -> str:
        if ref.user_id:
            digest = hashlib.sha1(ref.key.encode()).hexdigest()[:16]
            return f"rcoder-{self._stack}-files-d-{digest}"
        return f"rcoder-{self._stack}-files-{ref.project_id}"

    def files(self, served: Workload, folder: str, ref: ProjectRef) -> Workload:
        """The files container of a project: the volume (or host folder) of the container that serves
        it (`served`), mounted where an agent's is, serving `folder` of it (the project's own folder in
        a pod or a desktop; "" for all of it). It never makes the volume or folder: a project without
        one has no files."""
        spec = self._files.spec(
            name=self.files_name(ref),
            labels=labels.labels_for(
                self._stack, labels.KIND_FILES, project_id=ref.project_id, user_id=ref.user_id
            ),
            volume=served.spec.volume,
            volume_labels=served.spec.volume_labels,
            volume_bytes=served.spec.volume_bytes,
            bind_source=served.spec.bind_source,
        )
        # The folder is opened with no link followed on every request: one swapped for a link to a
        # neighbour's is refused.
        command = ("rcoder-runner", "--files", "--root", self._files.mount_path, "--folder", folder)
        # As the user the workspace's agents run as: a template's may not be the agent image's.
        spec = dataclasses.replace(spec, command=command, create_volume=False, user=served.spec.user)
        return Workload(labels.KIND_FILES, ref.key, spec)

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
