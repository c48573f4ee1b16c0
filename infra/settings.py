"""The stack's configuration (namespace `rcoder`), read once and checked, with the defaults of `make up`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi

DEFAULT_PORT = 8087
DEFAULT_PROXY_PORT = 8088
HOST_TRUST_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


def default_ca_bundle(trust_store: Path = HOST_TRUST_STORE) -> str:
    """What the images trust besides their own CAs when rcoder:extraCaBundle is unset: this host's trust
    store, as scripts/build-images does, so that builds work behind a TLS-intercepting proxy."""
    return str(trust_store) if trust_store.is_file() else ""


@dataclass(frozen=True)
class ModelProvider:
    """The operator's default model provider; its key is a secret."""

    id: str = ""
    base_url: str = ""
    model: str = ""
    protocol: str = "anthropic"
    api_key: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class Settings:
    stack: str
    port: int = DEFAULT_PORT
    proxy_port: int = DEFAULT_PROXY_PORT
    proxy_control_port: int = DEFAULT_PROXY_PORT + 1  # on loopback: the gateway empties the proxy's routes
    model_port: int = DEFAULT_PROXY_PORT + 2  # agents' way to their model, which keeps the key (0: off)
    bind: str = "127.0.0.1"  # the proxy's address on the host; 0.0.0.0 serves other machines
    image_tag: str = "dev"
    registry: str = ""  # e.g. registry.example.com/team: pull the images from there instead of building
    registry_username: str = ""
    registry_password: pulumi.Output[str] | None = None
    api_key: pulumi.Output[str] | None = None  # turns API key authentication on
    proxy_token_secret: pulumi.Output[str] | None = None  # signs preview/desktop tokens (else generated)
    # The git broker's logins: JSON {host: {username?, token}}, as the config file's git_credentials.
    git_credentials: pulumi.Output[str] | None = None
    model_provider: ModelProvider = field(default_factory=ModelProvider)
    allowed_ports: str = "1024-49151"
    host_open_ports: str = ""  # host ports agent and desktop containers may reach, e.g. a model server
    # The most a workspace holds (0: unbounded), and the volume plugin that holds it to that.
    workspace_size_bytes: int = 10 * 1024**3
    workspace_volume_driver: str = "rcoder/workspace-volumes"
    # volume, or host: each workspace a folder beneath projects_dir, a folder of the Docker host (no quota;
    # docs/configuration.md, "Host folders").
    workspaces: str = "volume"
    projects_dir: str = "./project_workspace"
    idle_timeout_seconds: int = 600
    cleanup_interval_seconds: int = 300
    container_protection_seconds: int = 300
    pause_idle: bool = True
    paused_keep_seconds: int = 3600
    warm_pool_size: int = 2
    max_containers: int = 100
    chats_per_minute: int = 60
    starts_per_minute: int = 120
    egress_policy: str = "allow"  # allow, allowlist or none
    egress_allow: str = ""  # IPv4 networks, addresses or host names, comma-separated
    egress_refresh_seconds: int = 60  # host names in egress_allow are resolved again this often
    log_level: str = "INFO"
    otlp_endpoint: str = ""
    pyroscope_endpoint: str = ""  # a Pyroscope server for the gateway's continuous CPU profile
    docker_host: str = ""  # unix:///var/run/docker.sock (default) or ssh://user@host
    docker_ssh_opts: list[str] = field(default_factory=list)
    extra_ca_bundle: str = ""  # PEM file of CAs the images must trust (a TLS-intercepting proxy)
    # docker: agents and desktops are containers on the Docker host; swarm: services on the swarm that
    # host manages (docker-compose.swarm.yml's layout; each node needs the images: rcoder:registry).
    backend: str = "docker"
    swarm_constraints: str = ""  # where agents and desktops may run, e.g. node.labels.rcoder.agents==true
    swarm_encrypted: bool = True  # overlays encrypt traffic between nodes

    @property
    def swarm(self) -> bool:
        return self.backend == "swarm"

    def front(self) -> str:
        """On a swarm: the bridge the gateway and the proxy share instead of the host's network."""
        return f"{self.prefix()}-front"

    def on_front(self, role: str) -> str:
        """A container's name on the front bridge (Docker's DNS answers a bare name on any shared network)."""
        return f"{self.prefix()}-{role}.{self.front()}"

    @classmethod
    def from_config(cls, config: pulumi.Config | None = None) -> Settings:
        config = config or pulumi.Config("rcoder")
        defaults = cls(stack="")
        provider = ModelProvider(
            id=config.get("modelProviderId") or "",
            base_url=config.get("modelProviderBaseUrl") or "",
            model=config.get("modelProviderModel") or "",
            protocol=config.get("modelProviderProtocol") or "anthropic",
            api_key=config.get_secret("modelProviderApiKey"),
        )
        settings = cls(
            stack=config.get("stack") or pulumi.get_stack(),
            port=config.get_int("port", defaults.port),
            proxy_port=config.get_int("proxyPort", defaults.proxy_port),
            proxy_control_port=config.get_int("proxyControlPort", defaults.proxy_control_port),
            model_port=config.get_int("modelPort", defaults.model_port),
            bind=config.get("bind") or defaults.bind,
            image_tag=config.get("imageTag") or defaults.image_tag,
            registry=(config.get("registry") or "").rstrip("/"),
            registry_username=config.get("registryUsername") or "",
            registry_password=config.get_secret("registryPassword"),
            api_key=config.get_secret("apiKey"),
            proxy_token_secret=config.get_secret("proxyTokenSecret"),
            git_credentials=config.get_secret("gitCredentials"),
            model_provider=provider,
            allowed_ports=config.get("allowedPorts") or defaults.allowed_ports,
            host_open_ports=config.get("hostOpenPorts") or defaults.host_open_ports,
            workspace_size_bytes=config.get_int("workspaceSizeBytes", defaults.workspace_size_bytes),
            workspace_volume_driver=config.get("workspaceVolumeDriver") or defaults.workspace_volume_driver,
            workspaces=config.get("workspaces") or defaults.workspaces,
            projects_dir=config.get("projectsDir") or defaults.projects_dir,
            idle_timeout_seconds=config.get_int("idleTimeoutSeconds", defaults.idle_timeout_seconds),
            cleanup_interval_seconds=config.get_int(
                "cleanupIntervalSeconds", defaults.cleanup_interval_seconds
            ),
            container_protection_seconds=config.get_int(
                "containerProtectionSeconds", defaults.container_protection_seconds
            ),
            pause_idle=config.get_bool("pauseIdle", defaults.pause_idle),
            paused_keep_seconds=config.get_int("pausedKeepSeconds", defaults.paused_keep_seconds),
            warm_pool_size=config.get_int("warmPoolSize", defaults.warm_pool_size),
            max_containers=config.get_int("maxContainers", defaults.max_containers),
            chats_per_minute=config.get_int("chatsPerMinute", defaults.chats_per_minute),
            starts_per_minute=config.get_int("startsPerMinute", defaults.starts_per_minute),
            egress_policy=config.get("egressPolicy") or defaults.egress_policy,
            egress_allow=config.get("egressAllow") or defaults.egress_allow,
            egress_refresh_seconds=config.get_int("egressRefreshSeconds", defaults.egress_refresh_seconds),
            log_level=config.get("logLevel") or defaults.log_level,
            otlp_endpoint=config.get("otlpEndpoint") or "",
            pyroscope_endpoint=config.get("pyroscopeEndpoint") or "",
            docker_host=config.get("dockerHost") or "",
            docker_ssh_opts=config.get_object("dockerSshOpts") or [],
            extra_ca_bundle=config.get("extraCaBundle", default_ca_bundle()),  # "" for none
            backend=config.get("backend") or defaults.backend,
            swarm_constraints=config.get("swarmConstraints") or "",
            swarm_encrypted=config.get_bool("swarmEncrypted", defaults.swarm_encrypted),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse what cannot work, naming the config key."""
        ports = {"rcoder:port": self.port, "rcoder:proxyPort": self.proxy_port}
        ports["rcoder:proxyControlPort"] = self.proxy_control_port
        if self.model_port != 0:
            ports["rcoder:modelPort"] = self.model_port
        for key, port in ports.items():
            if not 1 <= port <= 65535:
                raise ValueError(f"{key} must be a port number (1-65535), not {port}")
        if len(set(ports.values())) < len(ports):
            raise ValueError(f"{', '.join(ports)} must differ: they all listen on the host")
        if self.docker_host and not self.docker_host.startswith(("unix://", "ssh://", "tcp://")):
            raise ValueError(f"rcoder:dockerHost must be unix://, ssh:// or tcp://, not {self.docker_host!r}")
        if self.egress_policy not in ("allow", "allowlist", "none"):
            raise ValueError(
                f"rcoder:egressPolicy must be allow, allowlist or none, not {self.egress_policy!r}"
            )
        if self.backend not in ("docker", "swarm"):
            raise ValueError(f"rcoder:backend must be docker or swarm, not {self.backend!r}")
        if self.registry_password is not None and not self.registry:
            raise ValueError("rcoder:registryPassword is set but rcoder:registry is not")

    def prefix(self) -> str:
        """What every name of this stack starts with (as `make up` names them)."""
        return f"rcoder-{self.stack}"
