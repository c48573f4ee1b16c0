"""The whole appliance on one Docker host, as docs/deploying.md draws it: networks, volumes, images, the
gateway, and the proxy in front of it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pulumi
import pulumi_docker as docker

from infra.gateway import Gateway
from infra.images import Images
from infra.networks import Networks
from infra.proxy import Proxy
from infra.settings import Settings
from infra.volumes import Volumes

REPOSITORY = Path(__file__).resolve().parent.parent


def engine(settings: Settings) -> docker.Provider:
    """The Docker host everything goes to (this machine's socket by default), with registry credentials."""
    auth = None
    if settings.registry and settings.registry_username:
        auth = [
            docker.ProviderRegistryAuthArgs(
                address=settings.registry.split("/", 1)[0],
                username=settings.registry_username,
                password=settings.registry_password,
            )
        ]
    return docker.Provider(
        "docker-host",
        host=settings.docker_host or None,
        ssh_opts=settings.docker_ssh_opts or None,
        registry_auth=auth,
    )


def public_host(settings: Settings) -> str:
    """The host name clients use: the proxy's bind address, or the Docker host's name when it binds all."""
    if settings.bind not in ("0.0.0.0", "::"):
        return settings.bind
    remote = urlsplit(settings.docker_host) if settings.docker_host.startswith(("ssh://", "tcp://")) else None
    return remote.hostname if remote and remote.hostname else "127.0.0.1"


class Appliance(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, root: Path = REPOSITORY) -> None:
        provider = engine(settings)
        super().__init__(
            "rcoder:appliance:Appliance", name, None, pulumi.ResourceOptions(providers=[provider])
        )
        child = pulumi.ResourceOptions(parent=self)
        self.networks = Networks(f"{name}-networks", settings, child)
        self.volumes = Volumes(f"{name}-volumes", settings, child)
        self.images = Images(f"{name}-images", settings, root, child)
        self.gateway = Gateway(f"{name}-gateway", settings, self.images, self.networks, self.volumes, child)
        self.proxy = Proxy(f"{name}-proxy", settings, self.images, self.gateway, child)
        base_url = f"http://{public_host(settings)}:{settings.proxy_port}"
        self.url = pulumi.Output.from_input(base_url)
        self.outputs = {
            "url": base_url,
            "docs_url": f"{base_url}/api/docs",
            "gateway_container": self.gateway.container.name,
            "proxy_container": self.proxy.container.name,
            "networks": [network.name for network in self.networks.made],
            "state_volume": self.volumes.state.name,
            "images": {
                image: getattr(self.images, image).name for image in ("agent", "gateway", "proxy", "desktop")
            },
        }
        self.register_outputs(self.outputs)
