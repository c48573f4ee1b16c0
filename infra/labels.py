"""Labels on what the program creates: the same keys the gateway puts on its containers
(appliance/labels.py), so that one filter finds everything of a stack."""

from __future__ import annotations

import pulumi_docker as docker

from appliance import labels


def container_labels(stack: str, kind: str) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in labels.labels_for(stack, kind).items()]


def network_labels(stack: str, kind: str) -> list[docker.NetworkLabelArgs]:
    return [docker.NetworkLabelArgs(label=k, value=v) for k, v in labels.labels_for(stack, kind).items()]


def volume_labels(stack: str, kind: str) -> list[docker.VolumeLabelArgs]:
    return [docker.VolumeLabelArgs(label=k, value=v) for k, v in labels.labels_for(stack, kind).items()]
