"""Realise the Pulumi program's resource graph (tests/pulumi_graph.py) on the real Docker engine.

This does what `pulumi up` with the docker provider would do, resource by resource, in the order
the program registered them (dependencies first), from the inputs the program gave. An input it
does not know how to apply fails the run: nothing the program declares is silently left out.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from typing import Any

import docker

from tests.pulumi_graph import Graph, Resource

DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
UNITS_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
CONTAINER_INPUTS = {
    "name",
    "image",
    "envs",
    "networkMode",
    "restart",
    "volumes",
    "uploads",
    "healthcheck",
    "wait",
    "waitTimeout",
    "labels",
    "capabilities",
    "securityOpts",
}


def nanoseconds(duration: str) -> int:
    number, unit = DURATION.match(duration).groups()
    return int(number) * UNITS_NS[unit]


def label_dict(inputs: dict[str, Any]) -> dict[str, str]:
    return {entry["label"]: entry["value"] for entry in inputs.get("labels", [])}


def tar_of(uploads: list[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for upload in uploads:
            content = upload["content"].encode()
            info = tarfile.TarInfo(upload["file"].lstrip("/"))
            info.size, info.mode = len(content), int(upload.get("permissions", "0644"), 8)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class Realiser:
    def __init__(self, engine: docker.DockerClient, graph: Graph) -> None:
        self.engine = engine
        self.graph = graph
        self.created: list[Any] = []  # containers, volumes and networks, in creation order

    def up(self) -> None:
        for resource in self.graph.resources:
            apply = {
                "pulumi:providers:docker": self._provider,
                "docker:index/network:Network": self._network,
                "docker:index/volume:Volume": self._volume,
                "docker:index/remoteImage:RemoteImage": self._image,
                "docker:index/container:Container": self._container,
            }.get(resource.type)
            if apply is None:
                assert resource.type.startswith("rcoder:"), f"cannot realise {resource.type}"
                continue  # a component: it groups, it creates nothing
            apply(resource)

    def down(self) -> None:
        """Remove what was created, dependents first (as `pulumi destroy`); images are kept (keepLocally)."""
        for thing in reversed(self.created):
            if isinstance(thing, docker.models.networks.Network):
                thing.remove()
            else:
                thing.remove(force=True)
        self.created.clear()

    def _provider(self, resource: Resource) -> None:
        assert not resource.inputs.get("host"), "the end-to-end run uses the local engine"

    def _network(self, resource: Resource) -> None:
        inputs = resource.inputs
        print(f"realise: network {inputs['name']}")
        network = self.engine.networks.create(
            inputs["name"],
            driver=inputs.get("driver"),
            options=inputs.get("options"),
            labels=label_dict(inputs),
        )
        self.created.append(network)

    def _volume(self, resource: Resource) -> None:
        inputs = resource.inputs
        print(f"realise: volume {inputs['name']}")
        self.created.append(self.engine.volumes.create(inputs["name"], labels=label_dict(inputs)))

    def _image(self, resource: Resource) -> None:
        inputs = resource.inputs
        assert inputs.get("keepLocally") is True, "images stay when the stack goes"
        build = inputs.get("build")
        if build is None:
            print(f"realise: pull {inputs['name']}")
            self.engine.images.pull(inputs["name"])
            return
        started = time.monotonic()
        self.engine.images.build(
            path=build["context"],
            dockerfile=build["dockerfile"],
            buildargs=build.get("buildArgs") or {},
            tag=inputs["name"],
            rm=build.get("remove", True),
        )
        print(f"realise: built {inputs['name']} in {time.monotonic() - started:.0f} s")

    def _container(self, resource: Resource) -> None:
        inputs = resource.inputs
        unknown = set(inputs) - CONTAINER_INPUTS
        assert not unknown, f"the realiser does not apply {sorted(unknown)} of {resource.name}"
        health = inputs.get("healthcheck")
        container = self.engine.containers.create(
            inputs["image"],
            name=inputs["name"],
            environment=inputs.get("envs", []),
            network_mode=inputs.get("networkMode"),
            restart_policy={"Name": inputs["restart"]} if "restart" in inputs else None,
            volumes={
                volume.get("hostPath") or volume["volumeName"]: {
                    "bind": volume["containerPath"],
                    "mode": "rw",
                }
                for volume in inputs.get("volumes", [])
            },
            labels=label_dict(inputs),
            cap_drop=inputs.get("capabilities", {}).get("drops"),
            cap_add=inputs.get("capabilities", {}).get("adds"),
            security_opt=inputs.get("securityOpts"),
            healthcheck={
                "test": health["tests"],
                "interval": nanoseconds(health["interval"]),
                "timeout": nanoseconds(health["timeout"]),
                "start_period": nanoseconds(health["startPeriod"]),
                "retries": int(health["retries"]),
            }
            if health
            else None,
        )
        self.created.append(container)
        if inputs.get("uploads"):
            container.put_archive("/", tar_of(inputs["uploads"]))
        container.start()
        print(f"realise: container {inputs['name']} started")
        if inputs.get("wait"):
            self._wait_healthy(container, float(inputs.get("waitTimeout", 60)))

    def _wait_healthy(self, container, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            container.reload()
            state = container.attrs["State"]
            if state.get("Health", {}).get("Status") == "healthy":
                print(f"realise: container {container.name} is healthy")
                return
            assert state["Running"], container.logs().decode()[-3000:]
            assert time.monotonic() < deadline, (
                f"{container.name} not healthy: {container.logs().decode()[-3000:]}"
            )
            time.sleep(0.5)
