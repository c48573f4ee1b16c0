"""The bridges the gateway attaches agent and desktop containers to.

Inter-container traffic is off on both: one project's container cannot reach another's, and one
user's desktop cannot reach another's. The gateway and the proxy are on the host's network, from
where they reach every container on these bridges (see the README's isolation section).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.labels import label_args
from infra.settings import Settings

NO_INTER_CONTAINER_TRAFFIC = {"com.docker.network.bridge.enable_icc": "false"}


class Networks(pulumi.ComponentResource):
    agents: docker.Network
    desktops: docker.Network

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rcoder:appliance:Networks", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.agents, self.desktops = (
            docker.Network(
                f"{name}-{purpose}",
                name=f"{settings.prefix()}-{purpose}",
                driver="bridge",
                options=NO_INTER_CONTAINER_TRAFFIC,
                labels=label_args(docker.NetworkLabelArgs, settings.stack, "network"),
                opts=child,
            )
            for purpose in ("agents", "desktops")
        )
        self.register_outputs({"agents": self.agents.name, "desktops": self.desktops.name})
