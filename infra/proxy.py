"""The proxy container: nginx, the appliance's single entry point, steered by the gateway."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.gateway import Gateway
from infra.images import Images
from infra.labels import label_args
from infra.settings import Settings


def environment(settings: Settings) -> list[str]:
    """Where the proxy finds the gateway and listens: loopback and <bind>, or on a swarm the front
    bridge, with its control port there too."""
    gateway, listen, control = "127.0.0.1", settings.bind, []
    if settings.swarm:
        gateway, listen = settings.on_front("gateway"), settings.on_front("proxy")
        control = [f"RCODER_PROXY_CONTROL_HOST={listen}"]
    return [
        f"RCODER_GATEWAY={gateway}:{settings.port}",
        f"RCODER_PROXY_PORT={listen}:{settings.proxy_port}",
        f"RCODER_PROXY_CONTROL_PORT={settings.proxy_control_port}",
        f"RCODER_MODEL_PORT={settings.model_port}",
        *control,
    ]


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
            # the NAT hop) and reaches the gateway on loopback and every container's address. On a
            # swarm it sits on the front bridge beside the gateway, published on <bind>.
            network_mode=settings.front() if settings.swarm else "host",
            ports=[
                docker.ContainerPortArgs(
                    internal=settings.proxy_port, external=settings.proxy_port, ip=settings.bind
                )
            ]
            if settings.swarm
            else None,
            restart="unless-stopped",
            envs=environment(settings),
            wait=True,
            wait_timeout=60,
            labels=label_args(docker.ContainerLabelArgs, settings.stack, "proxy"),
            # Started only once the gateway is healthy (the gateway container waits for that).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway.container]),
        )
        self.register_outputs({"name": self.container.name})
