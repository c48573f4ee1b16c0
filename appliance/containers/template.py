"""What every container of one kind is made of (agent-sandbox's SandboxTemplate): its image, network and
mount, the environment it starts with, its scratch space and its default limits. A workload (appliance/
containers/workloads.py) names one container made from a template, with its labels and volume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from appliance.config import Config, TemplateConfig
from appliance.engines.engine import BUNDLE_PATH, ContainerSpec, TemplateImage

AGENT_TMPFS = {
    "/tmp": "rw,nosuid,size=256m",
    "/home/agent": "rw,nosuid,uid=1000,gid=1000,mode=0700,size=512m",
}
DESKTOP_TMPFS = {"/tmp": "rw,nosuid,size=1g"}
DESKTOP_SHM_BYTES = 256 * 1024**2
FILES_TMPFS = {"/tmp": "rw,nosuid,size=64m"}
FILES_MEMORY_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class Template:
    """One kind of container: an agent's (a project's, a pod's or a pooled one) or a user's desktop."""

    image: str
    network: str
    mount_path: str
    environment: dict[str, str]
    tmpfs: dict[str, str]
    memory_bytes: int
    cpus: float
    pids_limit: int
    # The sized-volume plugin, for volumes that are bounded (see spec()).
    volume_driver: str
    shm_bytes: int | None = None
    # A template's (appliance/templates.py): the user its agents run as, and the runner bundle's volume.
    user: str = ""
    runner_bundle: str | None = None

    @classmethod
    def agent(cls, config: Config) -> Template:
        engine = config.engine_config
        return cls(
            image=engine.agent_image,
            network=engine.network_base_name,
            mount_path=config.workspace_path,
            environment=_environment(config),
            tmpfs=AGENT_TMPFS,
            memory_bytes=engine.memory_limit_bytes,
            cpus=engine.cpu_limit,
            pids_limit=engine.pids_limit,
            volume_driver=engine.workspace_volume_driver,
        )

    @classmethod
    def desktop(cls, config: Config) -> Template:
        """A desktop: an agent's environment and limits, in an image, network and mount of its own (its
        user's home, a volume, holds a folder per project)."""
        engine = config.engine_config
        return dataclasses.replace(
            cls.agent(config),
            image=engine.desktop_image,
            network=engine.desktop_network,
            mount_path="/home/agent",
            tmpfs=DESKTOP_TMPFS,
            shm_bytes=DESKTOP_SHM_BYTES,
        )

    @classmethod
    def files(cls, config: Config) -> Template:
        """A files container: the agent image (whatever image serves the workspace), small and short
        of processes, with the files API's limits in its environment."""
        files = config.files
        environment = {
            "RCODER_FILES_MAX_UPLOAD_BYTES": str(files.max_upload_bytes),
            "RCODER_FILES_MAX_EXTRACT_BYTES": str(files.max_extract_bytes),
            "RCODER_FILES_MAX_EXTRACT_ENTRIES": str(files.max_extract_entries),
            "RCODER_FILES_GZIP_LEVEL": str(files.gzip_level),
            "RCODER_FILES_IDLE_SECONDS": str(files.idle_seconds),
        }
        return dataclasses.replace(
            cls.agent(config),
            environment=environment,
            tmpfs=FILES_TMPFS,
            memory_bytes=FILES_MEMORY_BYTES,
            cpus=1.0,
            pids_limit=64,
        )

    def templated(self, image: TemplateImage, settings: TemplateConfig, bundle: str) -> Template:
        """This (agent) template, in a template's sealed image: started from the runner bundle as the
        image's user, whose home is the scratch space; the bundle's bin/ after the image's own PATH;
        the template's limits where it sets them."""
        home = f"rw,nosuid,uid={image.uid},gid={image.gid},mode=0700,size=512m"
        environment = {
            **self.environment,
            "PATH": f"{image.path}:{BUNDLE_PATH}/bin",
            "HOME": image.home,
            "RCODER_WORKSPACE": self.mount_path,
        }
        return dataclasses.replace(
            self,
            image=image.image,
            environment=environment,
            tmpfs={"/tmp": self.tmpfs["/tmp"], image.home: home},
            memory_bytes=settings.memory_limit_bytes or self.memory_bytes,
            cpus=settings.cpu_limit or self.cpus,
            user=image.user,
            runner_bundle=bundle,
        )

    def spec(
        self,
        name: str,
        labels: dict[str, str],
        volume: str,
        volume_labels: dict[str, str],
        volume_bytes: int | None = None,
        environment: dict[str, str] | None = None,
        bind_source: str | None = None,
    ) -> ContainerSpec:
        """One container of this kind; its volume made by the sized-volume plugin, bounded to
        `volume_bytes`, or Docker's local one (None), or else the host folder `bind_source` mounted;
        `environment` added to the template's."""
        spec = ContainerSpec(
            name=name,
            image=self.image,
            labels=labels,
            network=self.network,
            volume=volume,
            volume_labels=volume_labels,
            mount_path=self.mount_path,
            environment={**self.environment, **(environment or {})},
            tmpfs=self.tmpfs,
            shm_bytes=self.shm_bytes,
            memory_bytes=self.memory_bytes,
            cpus=self.cpus,
            pids_limit=self.pids_limit,
            bind_source=bind_source,
            user=self.user,
            runner_bundle=self.runner_bundle,
        )
        if volume_bytes is None or bind_source is not None:
            return spec
        return dataclasses.replace(spec, volume_driver=self.volume_driver, volume_bytes=volume_bytes)


def _environment(config: Config) -> dict[str, str]:
    environment = {"RCODER_DEFAULT_AGENT": config.default_agent_id}
    if config.otlp_endpoint:
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = config.otlp_endpoint
    return environment
