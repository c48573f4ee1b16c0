"""A template's image on one engine: any image, looked at from inside by the runner bundle
(runner/image_probe.py), then sealed, i.e. built once more with the project workspace's folder owned by
the user its agents run as (an empty volume mounted there copies the folder's owner), and labelled with
who that user is.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass

import docker
import docker.errors
from docker.types import Mount

from appliance.engines.docker.runner_bundle import BUNDLE_PATH

# What a sealed image says about its user (labels, read back when a container starts from it).
UID_LABEL = "rcoder.template.uid"
GID_LABEL = "rcoder.template.gid"
HOME_LABEL = "rcoder.template.home"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageRefused(Exception):
    """The image cannot be a template's; the message says why."""


@dataclass(frozen=True)
class Account:
    """The user a template's agents run as, and the image's own PATH (the bundle's bin/ goes after it)."""

    uid: int
    gid: int
    home: str
    path: str

    @property
    def user(self) -> str:
        return f"{self.uid}:{self.gid}"


def probe_image(client: docker.DockerClient, image: str, bundle: str) -> Account:
    """Run the bundle's probe in a container of `image` (no network, nothing writable): its C library
    and its user; a musl image is refused."""
    config = client.images.get(image).attrs.get("Config") or {}
    output = client.containers.run(
        image,
        [f"{BUNDLE_PATH}/venv/bin/python", "-I", "-m", "runner.image_probe", config.get("User") or ""],
        entrypoint=[],
        mounts=[Mount(BUNDLE_PATH, bundle, type="volume", read_only=True)],
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        remove=True,
        stderr=True,
    )
    found = json.loads(output.decode().strip().splitlines()[-1])
    if found["libc"] == "musl":
        raise ImageRefused(
            f"image {image} is built on musl (as Alpine is): templates need a glibc image "
            "(Debian, Ubuntu, RHEL and their kin)"
        )
    path = next(
        (item.split("=", 1)[1] for item in config.get("Env") or [] if item.startswith("PATH=")), DEFAULT_PATH
    )
    return Account(uid=found["uid"], gid=found["gid"], home=found["home"], path=path)


def seal_image(
    client: docker.DockerClient,
    source: str,
    account: Account,
    workspace_path: str,
    tag: str,
    labels: dict[str, str],
) -> str:
    """Build `tag` from `source`: the workspace folder owned by the account, and labels naming it; the
    built image's id."""
    dockerfile = f"FROM {source}\nCOPY --chown={account.user} workspace/ {workspace_path}/\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()),):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("workspace")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
    context.seek(0)
    image, _ = client.images.build(
        fileobj=context,
        custom_context=True,
        tag=tag,
        labels={**labels, UID_LABEL: str(account.uid), GID_LABEL: str(account.gid), HOME_LABEL: account.home},
        rm=True,
        forcerm=True,
    )
    return image.id
