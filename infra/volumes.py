"""The gateway's state (its DuckDB file and the token secret it generates).

Workspaces (`rcoder-<stack>-ws-<project>`) and desktop homes (`rcoder-<stack>-home-<user>`) are
volumes the gateway creates on a project's or user's first use, labelled with the stack; they
outlive `pulumi destroy` unless removed with them (scripts/ci-stack does).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.labels import label_args
from infra.settings import Settings


class Volumes(pulumi.ComponentResource):
    state: docker.Volume

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rcoder:appliance:Volumes", name, None, opts)
        self.state = docker.Volume(
            f"{name}-state",
            name=f"{settings.prefix()}-state",
            labels=label_args(docker.VolumeLabelArgs, settings.stack, "state"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"state": self.state.name})
