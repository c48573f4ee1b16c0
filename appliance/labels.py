"""The labels on everything the appliance creates, so that its state can be rebuilt from the engine."""

from __future__ import annotations

MANAGED = "rcoder.managed"
KIND = "rcoder.kind"
PROJECT = "rcoder.project"
USER = "rcoder.user"
STACK = "rcoder.stack"
# On containers and volumes the warm pool started: a container that a project claimed is that
# project's by its name (labels cannot change).
POOL = "rcoder.pool"
# On a pod (a container several projects share, as in the seed) and its workspace volume: the pod's id.
POD = "rcoder.pod"
# On Swarm services (appliance/engines/swarm/): the workload's name (a service's own name
# must be a DNS label, and cannot change), the network its address is on, and the proxy's address on
# that network (where it reaches the model port).
NAME = "rcoder.name"
NETWORK = "rcoder.network"
HOST_ADDRESS = "rcoder.host-address"
# On the Swarm config that records where a workspace volume lives: the volume, and its node's id.
VOLUME = "rcoder.volume"
NODE = "rcoder.node"

KIND_AGENT = "agent"
KIND_DESKTOP = "desktop"
KIND_POD = "pod"
KIND_WORKSPACE = "workspace"
KIND_HOME = "home"
# A files container: serves one workspace's (or one folder's of it) files to the files API.
KIND_FILES = "files"
KIND_NETWORK = "network"
# The Swarm backend's node guard service.
KIND_GUARD = "guard"
# A one-shot container that makes or lists the workspaces' host folders (engine_config.workspaces: host).
KIND_FOLDERS = "folders"
# A template's sealed image (appliance/templates.py); on an agent container and its volume, `TEMPLATE`
# names the template it runs on.
KIND_TEMPLATE = "template"
TEMPLATE = "rcoder.template"
# Workload.kind of a warm-pool container, never a label: a pooled container is labelled an agent.
KIND_POOL = "pool"


def labels_for(
    stack: str, kind: str, project_id: str | None = None, user_id: str | None = None
) -> dict[str, str]:
    labels = {MANAGED: "true", STACK: stack, KIND: kind}
    if project_id is not None:
        labels[PROJECT] = project_id
    if user_id is not None:
        labels[USER] = user_id
    return labels


def selector(labels: dict[str, str]) -> list[str]:
    """A Docker `label` filter matching all of `labels`."""
    return [f"{key}={value}" for key, value in labels.items()]
