"""The appliance's images: built from `images/` on the Docker host (never pushed), or, when the
stack names a registry, pulled from it. The gateway runs agent and desktop containers from the
agent and desktop images, by name."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pulumi
import pulumi_docker as docker

from infra.settings import Settings

# What the image builds may read (as .dockerignore lets through); a change rebuilds them.
CONTEXT = (
    "pyproject.toml",
    "README.md",
    "appliance",
    "runner",
    "proto",
    "rcoder",
    "rcoder_wire",
    "images",
    "locks",
    "LICENSE",
    "LICENSE-MIT",
    "LICENSE-APACHE",
)
CA_BUNDLE = ".build/extra-ca.pem"  # the extra CAs baked into the base image (scripts/build-images writes it)


def context_digest(root: Path) -> str:
    """A digest of the build context's files, so that a source change replaces the images."""
    digest = hashlib.sha256()
    for entry in (*CONTEXT, CA_BUNDLE):
        path = root / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def oci_labels(root: Path, title: str) -> dict[str, str]:
    """The OCI image annotations of this checkout's commit, from scripts/lib/build.sh's oci_labels (the one
    place they are made: the same for `make up` and `pulumi up`, with git or without)."""
    made = subprocess.run(
        ["bash", "-c", '. scripts/lib/build.sh && oci_labels "$0"', title],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(word.split("=", 1) for word in made.stdout.splitlines()[1::2])


def prepare_ca_bundle(root: Path, source: str) -> None:
    """Put the extra CAs where the base image's build reads them (as scripts/build-images does):
    the configured file, else what is there already, else none."""
    target = root / CA_BUNDLE
    if source:
        content = Path(source).read_bytes()
        if not target.exists() or target.read_bytes() != content:
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(content)
    elif not target.exists():
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(b"")


class Images(pulumi.ComponentResource):
    agent: docker.RemoteImage
    gateway: docker.RemoteImage
    proxy: docker.RemoteImage
    desktop: docker.RemoteImage
    # What templates' containers mount (images/runner-bundle), collected from the agent image.
    runner_bundle: docker.RemoteImage

    def __init__(
        self, name: str, settings: Settings, root: Path, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rcoder:appliance:Images", name, None, opts)
        self._name, self._settings, self._root = name, settings, root
        if settings.registry:
            self.agent, self.gateway, self.proxy, self.desktop, self.runner_bundle = (
                self._pull(image) for image in ("agent", "gateway", "proxy", "desktop", "runner-bundle")
            )
        else:
            prepare_ca_bundle(root, settings.extra_ca_bundle)
            triggers = {"context": context_digest(root)}
            base = self._build("base", {}, triggers)
            # The agent Dockerfile's first stage, without the code: the desktop builds on it too.
            tools = self._build("agent-tools", {"BASE_IMAGE": base.name}, triggers, "agent", "tools")
            self.agent = self._build("agent", {"BASE_IMAGE": base.name}, triggers)
            self.gateway = self._build("gateway", {"BASE_IMAGE": base.name}, triggers)
            self.proxy = self._build("proxy", {}, triggers)
            self.desktop = self._build("desktop", {"AGENT_TOOLS_IMAGE": tools.name}, triggers)
            self.runner_bundle = self._build("runner-bundle", {"AGENT_IMAGE": self.agent.name}, triggers)
        self.register_outputs(
            {
                image: getattr(self, image).name
                for image in ("agent", "gateway", "proxy", "desktop", "runner_bundle")
            }
        )

    def _build(
        self,
        image: str,
        build_args: dict[str, pulumi.Input[str]],
        triggers: dict[str, str],
        folder: str | None = None,
        target: str | None = None,
    ) -> docker.RemoteImage:
        """Build images/<folder or image>/Dockerfile (up to `target`, if given) from the repository root
        on the Docker host; keep it on destroy."""
        return docker.RemoteImage(
            f"{self._name}-{image}",
            name=f"rcoder/{image}:{self._settings.image_tag}",
            build=docker.RemoteImageBuildArgs(
                context=str(self._root),
                dockerfile=f"images/{folder or image}/Dockerfile",
                build_args=build_args,
                label=oci_labels(self._root, image),
                target=target,
                remove=True,
                # The builder scripts/build-images uses: after `make images` its layer cache makes these
                # builds quick, where BuildKit (the provider's default) would build everything again.
                use_legacy_builder=True,
            ),
            triggers=triggers,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _pull(self, image: str) -> docker.RemoteImage:
        """Pull <registry>/rcoder/<image>:<tag> (the provider holds the registry's credentials)."""
        settings = self._settings
        return docker.RemoteImage(
            f"{self._name}-{image}",
            name=f"{settings.registry}/rcoder/{image}:{settings.image_tag}",
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
