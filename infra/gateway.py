"""The gateway container: the control plane. It starts agent and desktop containers through the
Docker socket, keeps its state on the state volume, and reads its secrets from files that Pulumi
uploads into the container (never from plain environment variables)."""

from __future__ import annotations

import json

import pulumi
import pulumi_docker as docker

from infra.images import Images
from infra.labels import label_args
from infra.networks import Networks
from infra.settings import Settings
from infra.volumes import Volumes

SECRETS_DIR = "/run/secrets/rcoder"
DOCKER_SOCKET = "/var/run/docker.sock"
STATE_DIR = "/var/lib/rcoder"


def secret_files(settings: Settings) -> dict[str, tuple[str, pulumi.Output[str]]]:
    """The gateway's `*_FILE` settings and the secret each file holds: {variable: (path, secret)}."""
    secrets = {
        "RCODER_API_KEY_FILE": ("api_key", settings.api_key),
        "RCODER_MODEL_PROVIDER_API_KEY_FILE": ("model_provider_api_key", settings.model_provider.api_key),
        "RCODER_PROXY_TOKEN_SECRET_FILE": ("proxy_token_secret", settings.proxy_token_secret),
        # On a swarm, the nodes pull the agent and desktop images from the registry with it.
        "RCODER_REGISTRY_PASSWORD_FILE": ("registry_password", settings.registry_password),
        # The git broker's logins, as a config file of their own (JSON is YAML).
        "RCODER_CONFIG": ("git.json", git_config(settings.git_credentials)),
    }
    return {
        variable: (f"{SECRETS_DIR}/{file}", pulumi.Output.secret(value))
        for variable, (file, value) in secrets.items()
        if value is not None
    }


def git_config(credentials: pulumi.Output[str] | None) -> pulumi.Output[str] | None:
    """The gateway's config file holding `git_credentials` (rcoder:gitCredentials, JSON by host)."""
    if credentials is None:
        return None
    return credentials.apply(lambda text: json.dumps({"git_credentials": json.loads(text)}))


def environment(settings: Settings, networks: Networks, images: Images) -> dict[str, pulumi.Input[str]]:
    """The gateway's settings, under the names docker-compose.yml (`make up`) gives them."""
    provider = settings.model_provider
    variables: dict[str, pulumi.Input[str]] = {
        "RCODER_HOST": "127.0.0.1",
        "RCODER_PORT": str(settings.port),
        "RCODER_STACK": settings.stack,
        "RCODER_NETWORK_BASE_NAME": networks.agents,
        "RCODER_DESKTOP_NETWORK": networks.desktops,
        "RCODER_AGENT_IMAGE": images.agent.name,
        "RCODER_DESKTOP_IMAGE": images.desktop.name,
        "RCODER_RUNNER_BUNDLE_IMAGE": images.runner_bundle.name,
        "RCODER_LOG_LEVEL": settings.log_level,
        "RCODER_API_KEY_ENABLED": "true" if settings.api_key is not None else "false",
        "RCODER_PROXY_PORT": str(settings.proxy_port),
        "RCODER_PROXY_CONTROL_PORT": str(settings.proxy_control_port),
        "RCODER_MODEL_PORT": str(settings.model_port),
        "RCODER_PROXY_ALLOWED_PORTS": settings.allowed_ports,
        "RCODER_HOST_OPEN_PORTS": settings.host_open_ports,
        "RCODER_WORKSPACE_SIZE_BYTES": str(settings.workspace_size_bytes),
        "RCODER_WORKSPACE_VOLUME_DRIVER": settings.workspace_volume_driver,
        "RCODER_WORKSPACES": settings.workspaces,
        "RCODER_PROJECTS_DIR": settings.projects_dir,
        "RCODER_IDLE_TIMEOUT_SECONDS": str(settings.idle_timeout_seconds),
        "RCODER_CLEANUP_INTERVAL_SECONDS": str(settings.cleanup_interval_seconds),
        "RCODER_CONTAINER_PROTECTION_SECONDS": str(settings.container_protection_seconds),
        "RCODER_PAUSE_IDLE": "true" if settings.pause_idle else "false",
        "RCODER_PAUSED_KEEP_SECONDS": str(settings.paused_keep_seconds),
        "RCODER_WARM_POOL_SIZE": str(settings.warm_pool_size),
        "RCODER_MAX_CONTAINERS": str(settings.max_containers),
        "RCODER_CHATS_PER_MINUTE": str(settings.chats_per_minute),
        "RCODER_STARTS_PER_MINUTE": str(settings.starts_per_minute),
        "RCODER_PYROSCOPE_ENDPOINT": settings.pyroscope_endpoint,
        "RCODER_EGRESS_POLICY": settings.egress_policy,
        "RCODER_EGRESS_ALLOW": settings.egress_allow,
        "RCODER_EGRESS_REFRESH_SECONDS": str(settings.egress_refresh_seconds),
        "RCODER_MODEL_PROVIDER_ID": provider.id,
        "RCODER_MODEL_PROVIDER_BASE_URL": provider.base_url,
        "RCODER_MODEL_PROVIDER_MODEL": provider.model,
        "RCODER_MODEL_PROVIDER_PROTOCOL": provider.protocol,
    }
    if settings.otlp_endpoint:
        variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = settings.otlp_endpoint
    if settings.swarm:
        variables |= swarm_environment(settings, images)
    return variables


def swarm_environment(settings: Settings, images: Images) -> dict[str, pulumi.Input[str]]:
    """On a swarm, as docker-compose.swarm.yml: the gateway listens on the front bridge, runs workloads as
    services, and joins itself and the proxy to each one's overlay; the host firewall is held on every
    node by a guard service of the gateway's image."""
    return {
        "RCODER_HOST": settings.on_front("gateway"),
        "RCODER_BACKEND": "swarm",
        "RCODER_SWARM_ATTACH": f"{settings.prefix()}-gateway,{settings.prefix()}-proxy",
        "RCODER_SWARM_CONSTRAINTS": settings.swarm_constraints,
        "RCODER_SWARM_ENCRYPTED": "true" if settings.swarm_encrypted else "false",
        "RCODER_NODE_GUARD_IMAGE": images.gateway.name,
        "RCODER_PROXY_CONTROL_HOST": settings.on_front("proxy"),
        "RCODER_REGISTRY_USERNAME": settings.registry_username,
    }


class Gateway(pulumi.ComponentResource):
    container: docker.Container

    def __init__(
        self,
        name: str,
        settings: Settings,
        images: Images,
        networks: Networks,
        volumes: Volumes,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rcoder:appliance:Gateway", name, None, opts)
        secrets = secret_files(settings)
        variables = environment(settings, networks, images) | {v: path for v, (path, _) in secrets.items()}
        self.container = docker.Container(
            name,
            name=f"{settings.prefix()}-gateway",
            image=images.gateway.image_id,
            # One host: listens on loopback and reaches the containers on both bridges. A swarm: on the
            # front bridge, published on loopback, and joined to each workload's overlay by itself.
            network_mode=settings.front() if settings.swarm else "host",
            ports=[docker.ContainerPortArgs(internal=settings.port, external=settings.port, ip="127.0.0.1")]
            if settings.swarm
            else None,
            restart="unless-stopped",
            envs=[pulumi.Output.concat(key, "=", value) for key, value in sorted(variables.items())],
            volumes=[
                docker.ContainerVolumeArgs(host_path=DOCKER_SOCKET, container_path=DOCKER_SOCKET),
                docker.ContainerVolumeArgs(volume_name=volumes.state.name, container_path=STATE_DIR),
            ],
            uploads=[
                docker.ContainerUploadArgs(file=path, content=secret, permissions="0400")
                for path, secret in secrets.values()
            ],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "rcoder-healthcheck"],
                interval="10s",
                timeout="3s",
                start_period="10s",
                retries=3,
            ),
            # Root for the Docker socket, without privilege escalation, and with NET_ADMIN only: the
            # host firewall that keeps agents and desktops off the host (appliance/engines/firewall.py),
            # which a swarm does not have yet.
            capabilities=docker.ContainerCapabilitiesArgs(
                drops=["ALL"], adds=[] if settings.swarm else ["NET_ADMIN"]
            ),
            security_opts=["no-new-privileges:true"],
            wait=True,  # `pulumi up` goes on (to the proxy) once the gateway is healthy
            wait_timeout=180,
            labels=label_args(docker.ContainerLabelArgs, settings.stack, "gateway"),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[images.agent, images.desktop, images.runner_bundle, *networks.made]
            ),
        )
        self.register_outputs({"name": self.container.name})
