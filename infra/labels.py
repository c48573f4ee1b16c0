"""Labels on what the program creates: the same keys the gateway puts on its containers
(appliance/labels.py), so that one filter finds everything of a stack."""

from __future__ import annotations

from typing import TypeVar

from appliance import labels

LabelArgs = TypeVar("LabelArgs")


def label_args(args: type[LabelArgs], stack: str, kind: str) -> list[LabelArgs]:
    """The stack's labels as pulumi-docker label arguments (ContainerLabelArgs, NetworkLabelArgs, ...)."""
    return [args(label=key, value=value) for key, value in labels.labels_for(stack, kind).items()]
