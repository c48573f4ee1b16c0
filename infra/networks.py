"""The bridges the gateway attaches agent and desktop containers to.

Inter-container traffic is off on both: one project's container cannot reach another's, and one
user's desktop cannot reach another's. The gateway and the proxy are on the host's network, from
where they reach every container on these bridges (see docs/security.md, Isolation).

On a swarm (rcoder:backend swarm) every workload gets an overlay of its own from the gateway, so the
only network here is the bridge the gateway and the proxy share (docker-compose.swarm.yml's).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from appliance import labels
from infra.labels import label_args
from infra.settings import Settings

NO_INTER_CONTAINER_TRAFFIC = {"com.docker.network.bridge.enable_icc": "false"}


class Networks(pulumi.ComponentResource):
    made: list[docker.Network]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("rcoder:appliance:Networks", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The agents' and desktops' groups: bridges on one host, names only on a swarm.
        self.agents, self.desktops = (f"{settings.prefix()}-{purpose}" for purpose in ("agents", "desktops"))
        bridges = (
            {"front": {}}
            if settings.swarm
            else dict.fromkeys(("agents", "desktops"), NO_INTER_CONTAINER_TRAFFIC)
        )
        self.made = [
            docker.Network(
                f"{name}-{purpose}",
                name=f"{settings.prefix()}-{purpose}",
                driver="bridge",
                options=options,
                labels=label_args(docker.NetworkLabelArgs, settings.stack, labels.KIND_NETWORK),
                opts=child,
            )
            for purpose, options in bridges.items()
        ]
        self.register_outputs({"networks": [network.name for network in self.made]})
