"""Images from a registry, resolved to their digest when a service is made (as the docker CLI does and
the API does not), so that every node runs the same bytes; the nodes pull them with the credentials
the engine was given. An image without a registry must be on every node already. Templates' sealed
images are pushed to the registry the agent image comes from, and pinned by the digest it gives.

The methods block: they run through `DockerSdk.run`, in the worker thread whose client they use."""

from __future__ import annotations

import threading

import docker
import docker.errors
from docker import auth

from appliance.engines.docker_sdk import DockerSdk
from appliance.errors import EngineUnavailable


class Registry:
    """`login`: the user name and password the nodes pull the images from a registry with."""

    def __init__(self, sdk: DockerSdk, login: tuple[str, str] | None) -> None:
        self._sdk = sdk
        self._login = login
        self._logins = threading.local()  # per worker thread, as its client: the registries it logged in to

    def pinned(self, image: str) -> str:
        """`image@sha256:…` for an image from a registry, as the registry has it now (one pinned
        already, as it is, once the registry is seen to have it)."""
        registry, _ = auth.resolve_repository_name(image)
        if registry == auth.INDEX_NAME:
            return image
        api = self._sdk.client().api
        try:
            # An image pinned already too (a template's): this thread's client must be logged in for
            # the service it makes to carry the credentials its nodes pull with.
            self._log_in(api, registry)
            digest = api.inspect_distribution(image)["Descriptor"]["digest"]
        except docker.errors.APIError as exc:
            raise EngineUnavailable(
                "the registry {registry} does not give image {image}: {detail}",
                registry=registry,
                image=image,
                detail=str(exc.explanation or exc),
            ) from exc
        return image if "@" in image else f"{image}@{digest}"

    def push(self, image: str) -> str:
        """Push `image` (a local image named `<registry>/<repository>:<tag>`) to its registry:
        `<registry>/<repository>@sha256:…`, as every node then pulls it."""
        repository, _, tag = image.rpartition(":")
        registry, _ = auth.resolve_repository_name(repository)
        api = self._sdk.client().api
        try:
            self._log_in(api, registry)
            said = list(api.push(repository, tag, stream=True, decode=True))
        except docker.errors.APIError as exc:
            said = [{"error": str(exc.explanation or exc)}]
        errors = [str(item["error"]).strip() for item in said if "error" in item]
        digests = [item["aux"]["Digest"] for item in said if "Digest" in (item.get("aux") or {})]
        if errors or not digests:
            raise EngineUnavailable(
                "the registry {registry} did not take image {image}: {detail}",
                registry=registry,
                image=image,
                detail=errors[-1] if errors else "it gave no digest",
            )
        return f"{repository}@{digests[-1]}"

    def _log_in(self, api: docker.APIClient, registry: str) -> None:
        """Log this thread's client in to the registry once: the service then carries the credentials
        its nodes pull with (X-Registry-Auth)."""
        if self._login is None:
            return
        if not hasattr(self._logins, "registries"):
            self._logins.registries = set()
        if registry not in self._logins.registries:
            username, password = self._login
            api.login(username, password, registry=registry)
            self._logins.registries.add(registry)
