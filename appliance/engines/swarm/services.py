"""The workloads as Swarm services with one replica: made, found, read as `Container`s, renamed, and
their tasks' states, exit codes and logs.

The methods that do not await block: the engine runs them through `DockerSdk.run`, as the client they
use is that worker thread's own."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import docker
import docker.errors
from docker.types import ContainerSpec as SwarmContainerSpec
from docker.types import (
    DriverConfig,
    EndpointSpec,
    Healthcheck,
    Mount,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
)

from appliance import labels as label_keys
from appliance.engines.docker_sdk import CONTAINER_LOGS, LOG_TAIL_LINES, DockerSdk, parse_time
from appliance.engines.engine import (
    BUNDLE_ENTRYPOINT,
    BUNDLE_HEALTHCHECK,
    Container,
    ContainerSpec,
    NameGone,
    NameTaken,
)
from appliance.errors import ContainerFailed

T = TypeVar("T")
R = TypeVar("R")

# How often a starting or stopping task is looked at.
POLL_PAUSE_SECONDS = 0.2
# Task states before running (swarmkit's TaskState); any other but running is an end.
STARTING = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def service_name(name: str) -> str:
    """The workload's name where Swarm takes it (a DNS label), else a readable prefix and a hash of it."""
    if DNS_LABEL.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    prefix = re.sub(r"[^a-z0-9-]", "-", name.lower())[:50].strip("-")
    return f"{prefix}-{digest}" if prefix else f"r-{digest}"


def tmpfs_mounts(tmpfs: dict[str, str], shm_bytes: int | None) -> list[Mount]:
    """Docker's tmpfs options ("rw,nosuid,size=1g,mode=0700") as service mounts: size and mode only.
    A service's tmpfs belongs to root, and one over a directory of the image takes that directory's
    mode, whatever `mode` says (seen on 20.10): the agent image's home is 1777 for that reason, and so
    is a template's sealed image's. One asked for with an owner (uid=) is made 1777 instead, so that
    its owner can write it (the sticky bit keeps each one's files their own)."""
    mounts = []
    for target, options in tmpfs.items():
        values = dict(option.partition("=")[::2] for option in options.split(","))
        size = _bytes(values["size"]) if "size" in values else None
        mode = 0o1777 if "uid" in values else int(values["mode"], 8) if "mode" in values else None
        mounts.append(Mount(target, None, type="tmpfs", tmpfs_size=size, tmpfs_mode=mode))
    if shm_bytes:
        mounts.append(Mount("/dev/shm", None, type="tmpfs", tmpfs_size=shm_bytes))
    return mounts


def update(api: docker.APIClient, service: dict[str, Any], **changes: Any) -> None:
    """Update the service's spec with `changes`, at the version it was read at."""
    spec = service["Spec"]
    api.update_service(
        service["ID"],
        service["Version"]["Index"],
        task_template=changes.get("task_template", spec["TaskTemplate"]),
        name=spec["Name"],
        labels=changes.get("labels", spec.get("Labels")),
        mode=changes.get("mode", spec.get("Mode")),
        endpoint_spec=spec.get("EndpointSpec"),
    )


def newest_task(api: docker.APIClient, service_id: str) -> dict[str, Any] | None:
    """The service's current task: the newest one meant to run, else the newest of all (a task
    being shut down may still be running after a newer one was made)."""
    tasks = api.tasks(filters={"service": service_id})
    meant = [t for t in tasks if t.get("DesiredState") == "running"]
    return max(meant or tasks, key=lambda t: t["CreatedAt"], default=None)


def _present_only(items: Iterable[T], read: Callable[[T], R]) -> list[R]:
    """`read` of each listed object still there: one removed since the list was taken is gone, not an
    error (the engine lists, then each object is asked about on its own)."""
    found = []
    for item in items:
        try:
            found.append(read(item))
        except docker.errors.NotFound:
            continue
    return found


def _bytes(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)


class Services:
    """The workloads' services; `start_seconds`: how long a new task may take to run."""

    def __init__(self, sdk: DockerSdk, start_seconds: float) -> None:
        self._sdk = sdk
        self._start_seconds = start_seconds

    def find(self, labels: dict[str, str]) -> list[Container]:
        services = self._sdk.client().api.services(filters={"label": label_keys.selector(labels)})
        # Workloads are replicated services; the one global service is the guard.
        workloads = [s for s in services if "Global" not in s["Spec"].get("Mode", {})]
        return _present_only(workloads, self._container_of)

    def inspect(self, service_id: str) -> Container:
        return self._container_of(self._sdk.client().api.inspect_service(service_id))

    def check_free(self, name: str) -> None:
        """NameTaken if a workload of that name exists (another start or claim won the race)."""
        if self._sdk.client().api.services(filters={"label": f"{label_keys.NAME}={name}"}):
            raise NameTaken(name)

    def rename(self, current: str, new: str) -> Container:
        """Move the `rcoder.name` label from `current` to `new`, at the version read with it."""
        api = self._sdk.client().api
        self.check_free(new)
        [service, *_] = api.services(filters={"label": f"{label_keys.NAME}={current}"}) or [None]
        if service is None:
            raise NameGone(current)
        spec = service["Spec"]
        try:
            update(api, service, labels={**spec.get("Labels", {}), label_keys.NAME: new})
            return self._container_of(api.inspect_service(service["ID"]))
        except docker.errors.NotFound as exc:  # removed since it was listed
            raise NameGone(current) from exc
        except docker.errors.APIError as exc:
            if "out of sequence" in str(exc.explanation or exc):
                raise NameGone(current) from exc
            raise

    def create(
        self, spec: ContainerSpec, image: str, network: str, host_address: str, constraints: list[str]
    ) -> str:
        """The workload's service, on its overlay `network`, where `constraints` allow: its id."""
        labels = {
            **spec.labels,
            label_keys.NAME: spec.name,
            label_keys.NETWORK: network,
            label_keys.HOST_ADDRESS: host_address,
        }
        driver = DriverConfig(spec.volume_driver) if spec.volume_driver != "local" else None
        workspace = Mount(
            spec.mount_path, spec.volume, type="volume", labels=spec.volume_labels, driver_config=driver
        )
        command, args, healthcheck = list(spec.command) or None, None, None
        if spec.runner_bundle is not None:  # a template's: it starts from the bundle its image carries
            command, args = list(BUNDLE_ENTRYPOINT), list(spec.command) or None
            healthcheck = Healthcheck(**BUNDLE_HEALTHCHECK)
        container = SwarmContainerSpec(
            image,
            command,
            args=args,
            user=spec.user or None,
            healthcheck=healthcheck,
            env=spec.environment,
            labels=labels,
            mounts=[workspace, *tmpfs_mounts(spec.tmpfs, spec.shm_bytes)],
            read_only=True,
            cap_drop=["ALL"],
        )
        resources = Resources(cpu_limit=int(spec.cpus * 1e9), mem_limit=spec.memory_bytes)
        resources["Limits"]["Pids"] = spec.pids_limit
        template = TaskTemplate(
            container,
            resources=resources,
            restart_policy=RestartPolicy(condition="none"),
            placement=Placement(constraints=constraints),
            log_driver={"Name": "json-file", "Options": CONTAINER_LOGS},
            networks=[network],
        )
        created = self._sdk.client().api.create_service(
            template,
            name=service_name(spec.name),
            labels=labels,
            mode=ServiceMode("replicated", replicas=1),
            endpoint_spec=EndpointSpec(mode="dnsrr"),
        )
        return created["ID"]

    async def running(self, service_id: str, name: str, guarded: Callable[[str], bool]) -> Container:
        """The service's task once it runs with an address, on a node where the host firewall holds
        (`guarded`: its guard may start there after it); ContainerFailed if it fails or takes too long."""
        state, task = "new", None
        for _ in range(int(self._start_seconds / POLL_PAUSE_SECONDS)):
            service, task = await self._sdk.run(self._service_and_task, service_id)
            state = task["Status"]["State"] if task else "new"
            if task is not None and state == "running":
                container = self._container(service, task)
                if container.ip and await self._sdk.run(guarded, task["NodeID"]):
                    return container
                if container.ip:
                    state = f"running on node {task['NodeID']}, where the host firewall does not hold yet"
            elif state not in STARTING:
                raise ContainerFailed(
                    "service {name} did not start: {detail}\n{logs}",
                    name=name,
                    detail=task["Status"].get("Err") or state,
                    logs=await self._sdk.run(self.logs, service_id),
                )
            await asyncio.sleep(POLL_PAUSE_SECONDS)
        detail = (task or {}).get("Status", {}).get("Err") or f"still {state}"
        raise ContainerFailed(
            "service {name} did not start: {detail}\n{logs}", name=name, detail=detail, logs=""
        )

    async def exit_code(self, service_id: str) -> int | None:
        """The exit code of the service's task; None if it has none, or the service went meanwhile."""

        def exit_code() -> int | None:
            with contextlib.suppress(docker.errors.NotFound):
                task = newest_task(self._sdk.client().api, service_id) or {}
                return task.get("Status", {}).get("ContainerStatus", {}).get("ExitCode")
            return None

        return await self._sdk.run(exit_code)

    def logs(self, service_id: str) -> str:
        try:
            chunks = self._sdk.client().api.service_logs(
                service_id, stdout=True, stderr=True, tail=LOG_TAIL_LINES
            )
            return b"".join(chunks).decode(errors="replace")
        except docker.errors.APIError:
            return "(no logs)"

    def _service_and_task(self, service_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        api = self._sdk.client().api
        return api.inspect_service(service_id), newest_task(api, service_id)

    def _container_of(self, service: dict[str, Any]) -> Container:
        return self._container(service, newest_task(self._sdk.client().api, service["ID"]))

    @staticmethod
    def _container(service: dict[str, Any], task: dict[str, Any] | None) -> Container:
        labels = dict(service["Spec"].get("Labels") or {})
        replicas = service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
        task = task or {"Status": {"State": "new"}}
        state = task["Status"]["State"]
        if replicas == 0:
            status = "paused"
        elif state == "running" and task.get("DesiredState") == "running":
            status = "running"
        elif state in STARTING:
            status = "created"
        else:
            status = "exited"
        network = labels.get(label_keys.NETWORK)
        addresses = [
            address.partition("/")[0]
            for attachment in task.get("NetworksAttachments") or []
            if attachment["Network"]["Spec"]["Name"] == network
            for address in attachment.get("Addresses") or []
        ]
        return Container(
            id=service["ID"],
            name=labels.get(label_keys.NAME, service["Spec"]["Name"]),
            status=status,
            ip=addresses[0] if addresses else None,
            labels=labels,
            created=parse_time(service.get("CreatedAt", "")),
        )
