"""The proxy container: nginx, the appliance's single entry point, steered by the gateway."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.gateway import Gateway
from infra.images import Images
from infra.labels import label_args
from infra.settings import Settings


class Proxy(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        images: Images,
        gateway: Gateway,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rcoder:appliance:Proxy", name, None, opts)
        self.container = docker.Container(
            name,
            name=f"{settings.prefix()}-proxy",
            image=images.proxy.image_id,
            # On the host's network it listens on <bind>:<proxyPort> itself (a published port without
            # the NAT hop) and reaches the gateway on loopback and every container's address.
            network_mode="host",
            restart="unless-stopped",
            envs=[
                f"RCODER_GATEWAY=127.0.0.1:{settings.port}",
                f"RCODER_PROXY_PORT={settings.bind}:{settings.proxy_port}",
                f"RCODER_PROXY_CONTROL_PORT={settings.proxy_control_port}",
                f"RCODER_MODEL_PORT={settings.model_port}",
            ],
            wait=True,
            wait_timeout=60,
            labels=label_args(docker.ContainerLabelArgs, settings.stack, "proxy"),
            # Started only once the gateway is healthy (the gateway container waits for that).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway.container]),
        )
        self.register_outputs({"name": self.container.name})
