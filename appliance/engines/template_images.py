"""A template's image on one engine: any image, looked at from inside by the runner bundle
(runner/image_probe.py), then sealed, i.e. built once more with the project workspace's folder owned by
the user its agents run as (an empty volume mounted there copies the folder's owner).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from docker.types import Mount

from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.engine import BUNDLE_PATH, TemplateImage
from appliance.errors import TemplateRefused

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def probe_image(client: docker.DockerClient, image: str, bundle: str) -> TemplateImage:
    """Run the bundle's probe in a container of `image` (no network, nothing writable): its C library
    and its user; a musl image is refused."""
    config = client.images.get(image).attrs.get("Config") or {}
    try:
        output = probe(client, image, bundle, config.get("User") or "")
    except docker.errors.ContainerError as exc:
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise TemplateRefused(
            "the runner bundle could not look into image {image}: {detail}",
            image=image,
            detail=said[-1] if said else f"exit status {exc.exit_status}",
        ) from None
    found = json.loads(output.decode().strip().splitlines()[-1])
    if found["libc"] == "musl":
        raise TemplateRefused(
            "image {image} is built on musl (as Alpine is): templates need a glibc image "
            "(Debian, Ubuntu, RHEL and their kin)",
            image=image,
        )
    path = next(
        (item.split("=", 1)[1] for item in config.get("Env") or [] if item.startswith("PATH=")), DEFAULT_PATH
    )
    return TemplateImage(image=image, uid=found["uid"], gid=found["gid"], home=found["home"], path=path)


def probe(client: docker.DockerClient, image: str, bundle: str, user: str) -> bytes:
    """runner/image_probe.py's JSON, from a container of `image` with no network and nothing writable."""
    return client.containers.run(
        image,
        [f"{BUNDLE_PATH}/venv/bin/python", "-I", "-m", "runner.image_probe", user],
        entrypoint=[],
        mounts=[Mount(BUNDLE_PATH, bundle, type="volume", read_only=True)],
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        remove=True,
    )


def seal_image(
    client: docker.DockerClient,
    probed: TemplateImage,
    workspace_path: str,
    tag: str,
    labels: dict[str, str],
    bundle_image: str = "",
) -> TemplateImage:
    """Build `tag` from the probed image: the workspace folder owned by its agents' user; the sealed
    image, by id. `bundle_image`: the runner bundle copied in from that image too, for nodes that have
    no bundle volume (a swarm's), with the agents' home folder writable by anyone (a swarm's tmpfs
    cannot be given an owner, and takes the mode of the folder it covers)."""
    lines = [f"FROM {probed.image}"]
    if bundle_image:
        busybox = f"{BUNDLE_PATH}/libexec/busybox"
        lines += [
            f"COPY --from={bundle_image} {BUNDLE_PATH} {BUNDLE_PATH}",
            "USER 0:0",
            f'RUN ["{busybox}", "mkdir", "-p", "{probed.home}"]',
            f'RUN ["{busybox}", "chmod", "1777", "{probed.home}"]',
            f"USER {probed.user}",
        ]
    lines.append(f"COPY --chown={probed.user} workspace/ {workspace_path}/")
    dockerfile = "\n".join([*lines, ""]).encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        folder = tarfile.TarInfo("workspace")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
    context.seek(0)
    try:
        image, _ = client.images.build(
            fileobj=context, custom_context=True, tag=tag, labels=labels, rm=True, forcerm=True
        )
    except docker.errors.BuildError as exc:
        raise TemplateRefused(
            "sealing image {image} failed: {detail}", image=probed.image, detail=str(exc.msg).strip()
        ) from None
    return dataclasses.replace(probed, image=image.id)


def build_image(
    client: docker.DockerClient,
    context: Path,
    dockerfile: str,
    tag: str,
    build_args: dict[str, str],
    line: Callable[[str], None],
) -> str:
    """Build `tag` from the context (a tar file) with its Dockerfile at `dockerfile`, each line of the
    build's output to `line` as it comes; the image's id. TemplateRefused with the builder's last
    words when the build fails."""
    last = ""
    with context.open("rb") as tar:
        for item in client.api.build(
            fileobj=tar,
            custom_context=True,
            dockerfile=dockerfile,
            tag=tag,
            buildargs=build_args,
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in item:
                raise TemplateRefused("the build failed: {detail}", detail=str(item["error"]).strip() or last)
            for text in str(item.get("stream", "")).splitlines():
                if text.strip():
                    last = text
                    line(text)
    return client.images.get(tag).id


def remove_image(client: docker.DockerClient, image: str) -> None:
    """Remove the image; one already gone, or still used by a container, is left."""
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        client.images.remove(image)


class TemplateImages:
    """Building and removing images on a Docker engine through a backend's one DockerSdk: the
    `build_image` and `remove_image` of both Docker-based engines (on a swarm, the manager's)."""

    def __init__(self, sdk: DockerSdk) -> None:
        self._sdk = sdk

    async def build(
        self,
        context: Path,
        dockerfile: str,
        tag: str,
        build_args: dict[str, str],
        line: Callable[[str], None],
    ) -> str:
        return await self._sdk.run(
            lambda: build_image(self._sdk.client(), context, dockerfile, tag, build_args, line)
        )

    async def remove(self, image: str) -> None:
        await self._sdk.run(lambda: remove_image(self._sdk.client(), image))
