"""The runner bundle on one engine: a volume holding images/runner-bundle's /opt/rcoder-runner, which
every template's container mounts read-only. It is made once per bundle image (named for the image's
id, so stacks sharing the engine share it and a new bundle gets a new volume) and filled by the engine
itself: creating a container of the bundle image with the empty volume mounted there copies the
image's files into it. Making one removes older bundles' volumes that nothing mounts any more.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from appliance import labels
from appliance.engines.engine import BUNDLE_ENTRYPOINT, BUNDLE_HEALTHCHECK, BUNDLE_PATH, ContainerSpec

BUNDLE_LABEL = "rcoder.runner-bundle"
# One fill at a time in this process: a second copy into a volume being filled would see it not empty.
_filling = threading.Lock()


def bundle_volume_name(image_id: str) -> str:
    return f"rcoder-runner-{image_id.removeprefix('sha256:')[:12]}"


def bundle_volume(client: docker.DockerClient, image: str) -> str:
    """The bundle volume of `image`, made and filled when it is missing (blocks: run in the SDK's thread)."""
    image_id = client.images.get(image).id
    name = bundle_volume_name(image_id)
    with _filling:
        try:
            client.volumes.get(name)
            return name
        except docker.errors.NotFound:
            pass
        # The volume is made by the container's creation, its files copied in the same call; a
        # failure leaves no volume behind, so the next call fills it again.
        filler = None
        try:
            client.volumes.create(name, labels={labels.MANAGED: "true", BUNDLE_LABEL: image_id})
            filler = client.containers.create(
                image_id,
                name=f"{name}-fill-{uuid.uuid4().hex[:8]}",
                mounts=[Mount(BUNDLE_PATH, name, type="volume")],
                labels={labels.MANAGED: "true", BUNDLE_LABEL: image_id},
            )
        except docker.errors.APIError:
            with contextlib.suppress(docker.errors.NotFound):
                client.volumes.get(name).remove(force=True)
            raise
        finally:
            if filler is not None:
                filler.remove(force=True)
        remove_unused(client, keep=name)
    return name


def remove_unused(client: docker.DockerClient, keep: str) -> list[str]:
    """Remove the volumes of older bundles (some 700 MB each) that no container mounts; one in use is
    left, and goes when a later bundle is made once nothing uses it."""
    removed = []
    for volume in client.volumes.list(filters={"label": BUNDLE_LABEL}):
        if volume.name == keep:
            continue
        with contextlib.suppress(docker.errors.APIError):
            volume.remove()
            removed.append(volume.name)
    return removed


def bundle_mounts(spec: ContainerSpec) -> list[Mount]:
    """The bundle's volume, read-only, for a container that starts from it."""
    if spec.runner_bundle is None:
        return []
    return [Mount(BUNDLE_PATH, spec.runner_bundle, type="volume", read_only=True)]


def bundle_start(spec: ContainerSpec) -> dict[str, Any]:
    """How a container that starts from the bundle starts (engine.py's BUNDLE_ENTRYPOINT and
    BUNDLE_HEALTHCHECK)."""
    if spec.runner_bundle is None:
        return {}
    return {"entrypoint": list(BUNDLE_ENTRYPOINT), "healthcheck": BUNDLE_HEALTHCHECK}
