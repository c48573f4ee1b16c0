"""A Docker Swarm as the container engine (appliance/engines/engine.py's interface), through one of
its managers: each workload is a service with one replica, scheduled on any node that carries the
placement constraints, on an overlay network. docs/scale-out.md is the design; what is built so far is
the engine itself, proven on a real multi-node swarm by `make test-swarm` (tests/swarm/).

What differs from one Docker host, by the interface's methods:
- `Container.id` is the **service** id (a paused service has no task). Its task is replaced only when
  a paused (scaled to zero) service is resumed, and then its address changes too.
- Names: a service name must be a DNS label (63 characters at most), so a workload's name is kept in
  the `rcoder.name` label and its service gets a name derived from it.
- `rename` (a warm-pool claim) cannot rename a service: it changes the `rcoder.name` label, with the
  service's version index, so two claims cannot both win.
- `pause` scales the service to 0 and waits for its task to go (its memory is freed); `unpause` scales
  it back to 1 and waits for the new task to run. (Scaling up while the old task is still being
  removed leaves the service with no task at all under restart condition `none`: seen here.)
- `events`: the manager sees no task events, so the stack's tasks are polled once a second.
- Services have no `no-new-privileges` option on this engine's API (1.41) and their tmpfs mounts take
  only a size and a mode.
- Images: one named with a registry (`<registry>/rcoder/agent:dev`) is resolved to its digest when a
  service is made, as the docker CLI does and the API does not, so every node runs the same bytes; the
  nodes pull it with the credentials the engine was given. An image without a registry must be on every
  node already.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import docker.errors
from docker import auth
from docker.types import ContainerSpec as SwarmContainerSpec
from docker.types import (
    DriverConfig,
    EndpointSpec,
    Mount,
    Placement,
    Resources,
    RestartPolicy,
    ServiceMode,
    TaskTemplate,
)

from appliance import labels as label_keys
from appliance.containers.node_guard import guard_command, guard_template, node_addresses
from appliance.engines.docker_sdk import CONTAINER_LOGS, LOG_TAIL_LINES, DockerSdk, parse_time
from appliance.engines.engine import (
    Capacity,
    Container,
    ContainerGone,
    ContainerSpec,
    NameGone,
    NameTaken,
    Network,
)
from appliance.engines.firewall import FirewallError
from appliance.errors import ApplianceError, ContainerFailed, EngineUnavailable, WorkspaceUnavailable
from appliance.labels import labels_for, selector

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

# How often the stack's tasks are read for ones that stopped (the manager has no task events).
POLL_SECONDS = 1.0
# How long a new service's task may take to be scheduled and start running.
START_SECONDS = 60.0
# How often a removed workload's network is tried again while its task still holds it.
LEAVE_PAUSE_SECONDS = 0.5
# How many polls (of POLL_SECONDS) apart the attached containers rejoin the workloads' overlays.
REJOIN_POLLS = 30
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
    mode, whatever `mode` says (seen on 20.10): the agent image's home is 1777 for that reason."""
    mounts = []
    for target, options in tmpfs.items():
        values = dict(option.partition("=")[::2] for option in options.split(","))
        size = _bytes(values["size"]) if "size" in values else None
        mode = int(values["mode"], 8) if "mode" in values else None
        mounts.append(Mount(target, None, type="tmpfs", tmpfs_size=size, tmpfs_mode=mode))
    if shm_bytes:
        mounts.append(Mount("/dev/shm", None, type="tmpfs", tmpfs_size=shm_bytes))
    return mounts


@contextlib.contextmanager
def _already_done(words: str) -> Iterator[None]:
    """An engine refusal that says the work is already done (connected, disconnected) is no error."""
    try:
        yield
    except docker.errors.APIError as exc:
        if words not in str(exc.explanation or exc):
            raise


def _volume_labels(record_labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in record_labels.items() if k not in (label_keys.VOLUME, label_keys.NODE)}


def _all_paused(services: list[dict[str, Any]]) -> bool:
    """Whether there are services and each is paused (replicated, no replicas)."""
    return bool(services) and all(
        (service["Spec"]["Mode"].get("Replicated") or {}).get("Replicas") == 0 for service in services
    )


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


class SwarmEngine:
    """The swarm through a manager's engine API. `constraints`: where workloads may run (e.g.
    `node.labels.rcoder.agents==true`); `encrypted`: whether overlays encrypt their traffic; `attach`:
    the containers (the gateway's and the proxy's) joined to each workload's overlay; `model_host`:
    the one of them where agents reach the model port (its address on the workload's overlay is kept
    in the service's `rcoder.host-address` label); `registry_login`: the user name and password the
    nodes pull the images from a registry with."""

    def __init__(
        self,
        host: str,
        api_timeout: int,
        constraints: list[str],
        encrypted: bool,
        attach: Sequence[str] = (),
        model_host: str = "",
        start_seconds: float = START_SECONDS,
        registry_login: tuple[str, str] | None = None,
        guard_image: str = "",
    ) -> None:
        self._sdk = DockerSdk(host, api_timeout)
        self._registry_login = registry_login
        self._logins = threading.local()  # per worker thread, as its client: the registries it logged in to
        self._guard_image = guard_image
        self._guard_id = ""  # the guard service (node_guard.py), once guard_nodes made it
        self._guard_args: tuple[str, str, list[int], list[str] | None] | None = None
        self._guard_denies: set[str] = set()  # the node addresses the guard's rules deny
        self._constraints = constraints
        self._encrypted = encrypted
        self._attach = tuple(attach)
        self._model_host = model_host
        self._start_seconds = start_seconds
        self._leaving: set[asyncio.Task[None]] = set()

    async def ping(self) -> None:
        def ping() -> None:
            swarm = self._sdk.client().info().get("Swarm") or {}
            if not swarm.get("ControlAvailable"):
                raise EngineUnavailable("the Docker engine is not a swarm manager (docker swarm init)")

        await self._sdk.run(ping)

    async def capacity(self) -> Capacity:
        """The largest node that is ready and active: no workload can be given more than it has."""

        def capacity() -> Capacity:
            nodes = self._sdk.client().api.nodes(filters={"role": "worker"}) or self._sdk.client().api.nodes()
            usable = [
                n["Description"]["Resources"]
                for n in nodes
                if n["Status"]["State"] == "ready" and n["Spec"].get("Availability") == "active"
            ]
            if not usable:
                raise EngineUnavailable("the swarm has no node that is ready and active")
            largest = max(usable, key=lambda r: (r["MemoryBytes"], r["NanoCPUs"]))
            return Capacity(cpus=largest["NanoCPUs"] / 1e9, memory_bytes=largest["MemoryBytes"])

        return await self._sdk.run(capacity)

    async def ensure_network(self, name: str, labels: dict[str, str]) -> Network:
        """Nothing to make ahead: each workload gets an overlay of its own when it starts, as overlays
        have no switch that keeps their members apart (docs/scale-out.md §2.3). The attached containers
        rejoin the overlays (`labels`) of the workloads there are, in case they were made anew."""
        await self._sdk.run(self._rejoin, labels)
        return Network(bridge="", host_address="")

    def _rejoin(self, labels: dict[str, str]) -> None:
        """Attach the attached containers to every overlay carrying `labels` but those of paused
        workloads (unpause joins them), and give the services on it the model host's address there,
        if it changed."""
        client = self._sdk.client()
        present = self._present()
        for network in client.networks.list(filters={"label": selector(labels), "driver": "overlay"}):
            try:
                services = self._overlay_services(network.name)
                if _all_paused(services):
                    continue
                self._join_network(network, present, services)
            except docker.errors.APIError as exc:  # e.g. removed with its workload meanwhile
                log.info("could not rejoin network %s: %s", network.name, exc)

    def _overlay_services(self, network: str) -> list[dict[str, Any]]:
        return self._sdk.client().api.services(filters={"label": f"{label_keys.NETWORK}={network}"})

    def _present(self) -> list[str]:
        """The attached containers there are (the proxy starts after the gateway: it may not be yet)."""
        client = self._sdk.client()
        return [
            c
            for c in self._attach
            if client.containers.list(all=True, filters={"name": f"^/{c}$"}, sparse=True)
        ]

    def _join_network(self, network: Any, present: list[str], services: list[dict[str, Any]]) -> None:
        for container in present:
            with _already_done("already exists"):
                network.connect(container)
        if self._model_host not in present:
            return
        attached = self._sdk.client().containers.get(self._model_host).attrs["NetworkSettings"]["Networks"]
        address = attached[network.name]["IPAddress"]
        for service in services:
            service_labels = service["Spec"].get("Labels") or {}
            if service_labels.get(label_keys.HOST_ADDRESS) != address:
                self._update(service, labels={**service_labels, label_keys.HOST_ADDRESS: address})

    def _leave_overlay(self, service_id: str) -> None:
        """Detach the attached containers from a paused workload's overlay, once every service on it is
        paused (as `_rejoin` leaves it then): a container can hold only so many interfaces, and paused
        workloads pile up. The overlay itself is kept for unpause."""
        try:
            labels = self._sdk.client().api.inspect_service(service_id)["Spec"].get("Labels") or {}
        except docker.errors.NotFound:  # removed meanwhile: its network goes with it
            return
        name = labels.get(label_keys.NETWORK)
        if not name or not _all_paused(self._overlay_services(name)):
            return
        try:
            network = self._sdk.client().networks.get(name)
        except docker.errors.NotFound:
            return
        for container in self._attach:
            with _already_done("is not connected"), contextlib.suppress(docker.errors.NotFound):
                network.disconnect(container, force=True)

    def _open_network(self, spec: ContainerSpec) -> tuple[str, str]:
        """The workload's own attachable overlay, with the attached containers on it: its name, and the
        model host's address on it ("" if there is none). Each start makes a new one: the last start's
        may still be on its way out."""
        client = self._sdk.client()
        name = service_name(f"{spec.name}.net.{uuid.uuid4().hex[:8]}")
        labels = {label_keys.MANAGED: "true", label_keys.KIND: label_keys.KIND_NETWORK}
        if label_keys.STACK in spec.labels:
            labels[label_keys.STACK] = spec.labels[label_keys.STACK]
        options = {"encrypted": ""} if self._encrypted else {}
        try:
            network = client.networks.create(
                name, driver="overlay", attachable=True, labels=labels, options=options, scope="swarm"
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            network = client.networks.get(name)
        try:
            for container in self._attach:
                with _already_done("already exists"):
                    network.connect(container)
            host_address = ""
            if self._model_host in self._attach:
                found = client.containers.get(self._model_host).attrs["NetworkSettings"]["Networks"]
                host_address = found[name]["IPAddress"]
        except BaseException:
            self._close_network(name)
            raise
        return name, host_address

    def _close_network(self, name: str) -> bool:
        """Detach the attached containers and remove the network; False while a task still uses it."""
        client = self._sdk.client()
        try:
            network = client.networks.get(name)
        except docker.errors.NotFound:
            return True
        for container in self._attach:
            with _already_done("is not connected"), contextlib.suppress(docker.errors.NotFound):
                network.disconnect(container, force=True)
        try:
            network.remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "in use" in str(exc.explanation or exc) or "active endpoints" in str(exc.explanation or exc):
                return False
            raise
        return True

    async def _leave_network(self, name: str) -> None:
        """Remove the network once its last task is gone from every node (tasks take seconds to stop)."""
        for _ in range(int(self._start_seconds / LEAVE_PAUSE_SECONDS)):
            if await self._sdk.run(self._close_network, name):
                return
            await asyncio.sleep(LEAVE_PAUSE_SECONDS)
        log.warning("network %s is still in use; it is left behind", name)

    async def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        """The workspace volumes on any node, as their placement records have them."""

        def volumes() -> dict[str, dict[str, str]]:
            records = self._sdk.client().api.configs(
                filters={"label": [*selector(labels), label_keys.VOLUME]}
            )
            return {
                record["Spec"]["Labels"][label_keys.VOLUME]: _volume_labels(record["Spec"]["Labels"])
                for record in records
            }

        return await self._sdk.run(volumes)

    async def remove_volume(self, name: str) -> None:
        """Forget where the volume lives. The volume itself stays on its node (the manager cannot reach
        a node's volumes): docs/scale-out.md §2.4."""

        def remove() -> None:
            if record := self._placement_record(name):
                log.info(
                    "workspace volume %s is left on node %s", name, record["Spec"]["Labels"][label_keys.NODE]
                )
                with contextlib.suppress(docker.errors.NotFound):
                    self._sdk.client().api.remove_config(record["ID"])

        await self._sdk.run(remove)

    def _placement_record(self, volume: str) -> dict[str, Any] | None:
        found = self._sdk.client().api.configs(filters={"label": f"{label_keys.VOLUME}={volume}"})
        return found[0] if found else None

    def _workspace_node(self, volume: str, workload: str) -> str | None:
        """The id of the node the volume lives on (None: a new workspace, anywhere the constraints
        allow); WorkspaceUnavailable while that node cannot run it."""
        record = self._placement_record(volume)
        if record is None:
            return None
        node_id = record["Spec"]["Labels"][label_keys.NODE]
        try:
            node = self._sdk.client().api.inspect_node(node_id)
            name, state = node["Description"]["Hostname"], node["Status"]["State"]
            availability = node["Spec"].get("Availability", "active")
        except docker.errors.NotFound:
            name, state, availability = node_id, "gone from the swarm", ""
        if state != "ready" or availability != "active":
            raise WorkspaceUnavailable(
                "the workspace of {workload} is on swarm node {node}, which is {state}: make that node "
                "active again (docker node update --availability active {node}), or remove the project",
                workload=workload,
                node=name,
                state=availability if state == "ready" else state,
            )
        return node_id

    def _pin(self, service_id: str, spec: ContainerSpec) -> None:
        """Keep the workload on the node its new workspace was made on: the service's placement (which
        Swarm applies without replacing a task that already satisfies it) and a placement record,
        which outlives the service."""
        node_id = (self._newest_task(service_id) or {})["NodeID"]
        if self._placement_record(spec.volume) is None:
            labels = {**spec.volume_labels, label_keys.VOLUME: spec.volume, label_keys.NODE: node_id}
            self._sdk.client().api.create_config(service_name(f"{spec.volume}.ws"), b"{}", labels=labels)
        service = self._sdk.client().api.inspect_service(service_id)
        template = dict(service["Spec"]["TaskTemplate"])
        template["Placement"] = {"Constraints": [*self._constraints, f"node.id=={node_id}"]}
        self._update(service, task_template=template)

    async def volume_quota_problem(self, driver: str) -> str | None:
        return "the swarm backend does not size workspaces yet (the volume plugin is per node)"

    async def find(self, labels: dict[str, str]) -> list[Container]:
        def find() -> list[Container]:
            services = self._sdk.client().api.services(filters={"label": selector(labels)})
            # Workloads are replicated services; the one global service is the guard.
            workloads = [s for s in services if "Global" not in s["Spec"].get("Mode", {})]
            return _present_only(workloads, self._service_container)

        return await self._sdk.run(find)

    async def inspect(self, container_id: str) -> Container:
        return await self._sdk.run(
            lambda: self._service_container(self._sdk.client().api.inspect_service(container_id))
        )

    async def find_named(self, name: str) -> Container | None:
        found = await self.find({label_keys.NAME: name})
        return found[0] if found else None

    async def rename(self, current: str, new: str) -> Container:
        """Move the `rcoder.name` label from `current` to `new`, at the version read with it."""

        def rename() -> Container:
            api = self._sdk.client().api
            if api.services(filters={"label": f"{label_keys.NAME}={new}"}):
                raise NameTaken(new)
            [service, *_] = api.services(filters={"label": f"{label_keys.NAME}={current}"}) or [None]
            if service is None:
                raise NameGone(current)
            spec = service["Spec"]
            try:
                self._update(service, labels={**spec.get("Labels", {}), label_keys.NAME: new})
                return self._service_container(api.inspect_service(service["ID"]))
            except docker.errors.NotFound as exc:  # removed since it was listed
                raise NameGone(current) from exc
            except docker.errors.APIError as exc:
                if "out of sequence" in str(exc.explanation or exc):
                    raise NameGone(current) from exc
                raise

        return await self._sdk.run(rename)

    async def pause(self, container_id: str) -> None:
        """Scaled to zero, once its task is gone (its memory freed); the attached containers leave its
        overlay."""

        def scale_down() -> None:
            api = self._sdk.client().api
            self._update(api.inspect_service(container_id), mode=ServiceMode("replicated", replicas=0))

        await self._sdk.run(scale_down)
        for _ in range(int(self._start_seconds / POLL_PAUSE_SECONDS)):
            if not await self._sdk.run(
                lambda: self._sdk.client().api.tasks(filters={"service": container_id})
            ):
                await self._sdk.run(self._leave_overlay, container_id)
                return
            await asyncio.sleep(POLL_PAUSE_SECONDS)

    async def unpause(self, container: Container) -> Container:
        """Scaled back to one: a new task, with a new address, once it runs (on its workspace's node,
        or WorkspaceUnavailable at once if that node cannot run it)."""

        def scale_up() -> None:
            api = self._sdk.client().api
            service = api.inspect_service(container.id)
            mounts = service["Spec"]["TaskTemplate"]["ContainerSpec"].get("Mounts") or []
            for volume in (m["Source"] for m in mounts if m.get("Type") == "volume"):
                self._workspace_node(volume, container.name)
            if network := (service["Spec"].get("Labels") or {}).get(label_keys.NETWORK):
                self._join_network(self._sdk.client().networks.get(network), self._present(), [service])
                service = api.inspect_service(container.id)  # the model host's address may be new
            self._update(service, mode=ServiceMode("replicated", replicas=1))

        await self._sdk.run(scale_up)
        return await self._running(container.id, container.name)

    async def start(self, spec: ContainerSpec) -> Container:
        """Create the service and wait for its task to run; remove the service (and its overlay) if it
        does not. The waiting is done here, not in the engine's few threads."""
        service_id, network, pinned = await self._sdk.run(self._create_service, spec)
        try:
            running = await self._running(service_id, spec.name)
            if not pinned:  # a new workspace, on the node Swarm chose
                await self._sdk.run(self._pin, service_id, spec)
            return running
        except BaseException:
            with contextlib.suppress(docker.errors.APIError):
                await self._sdk.run(self._sdk.client().api.remove_service, service_id)
            await self._leave_network(network)
            raise

    def _pinned_image(self, image: str) -> str:
        """`image@sha256:…` for an image from a registry, as the registry has it now."""
        registry, _ = auth.resolve_repository_name(image)
        if "@" in image or registry == auth.INDEX_NAME:
            return image
        api = self._sdk.client().api
        try:
            self._log_in(api, registry)
            digest = api.inspect_distribution(image)["Descriptor"]["digest"]
        except docker.errors.APIError as exc:
            raise EngineUnavailable(
                "the registry {registry} does not give image {image}: {detail}",
                registry=registry,
                image=image,
                detail=str(exc.explanation or exc),
            ) from exc
        return f"{image}@{digest}"

    def _log_in(self, api: docker.APIClient, registry: str) -> None:
        """Log this thread's client in to the registry once: the service then carries the credentials
        its nodes pull with (X-Registry-Auth)."""
        if self._registry_login is None:
            return
        if not hasattr(self._logins, "registries"):
            self._logins.registries = set()
        if registry not in self._logins.registries:
            username, password = self._registry_login
            api.login(username, password, registry=registry)
            self._logins.registries.add(registry)

    def _create_service(self, spec: ContainerSpec) -> tuple[str, str, bool]:
        """The service, on an overlay of its own: its id, the overlay, and whether it is pinned to the
        node its workspace is on already."""
        api = self._sdk.client().api
        if api.services(filters={"label": f"{label_keys.NAME}={spec.name}"}):
            raise NameTaken(spec.name)
        node = self._workspace_node(spec.volume, spec.name)
        constraints = [*self._constraints, f"node.id=={node}"] if node else self._constraints
        image = self._pinned_image(spec.image)
        network, host_address = self._open_network(spec)
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
        container = SwarmContainerSpec(
            image,
            None,
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
        try:
            created = api.create_service(
                template,
                name=service_name(spec.name),
                labels=labels,
                mode=ServiceMode("replicated", replicas=1),
                endpoint_spec=EndpointSpec(mode="dnsrr"),
            )
        except BaseException:
            self._close_network(network)
            raise
        return created["ID"], network, node is not None

    async def _running(self, service_id: str, name: str) -> Container:
        """The service's task once it runs with an address, on a node where the host firewall holds
        (its guard may start there after it); ContainerFailed if it fails or takes too long."""
        state, task = "new", None
        for _ in range(int(self._start_seconds / POLL_PAUSE_SECONDS)):
            service, task = await self._sdk.run(self._service_and_task, service_id)
            state = task["Status"]["State"] if task else "new"
            if task is not None and state == "running":
                container = self._container(service, task)
                if container.ip and await self._sdk.run(self._guarded, task["NodeID"]):
                    return container
                if container.ip:
                    state = f"running on node {task['NodeID']}, where the host firewall does not hold yet"
            elif state not in STARTING:
                raise ContainerFailed(
                    "service {name} did not start: {detail}\n{logs}",
                    name=name,
                    detail=task["Status"].get("Err") or state,
                    logs=await self._sdk.run(self._service_logs, service_id),
                )
            await asyncio.sleep(POLL_PAUSE_SECONDS)
        detail = (task or {}).get("Status", {}).get("Err") or f"still {state}"
        raise ContainerFailed(
            "service {name} did not start: {detail}\n{logs}", name=name, detail=detail, logs=""
        )

    async def isolate(
        self,
        stack: str,
        bridges: Sequence[str],
        open_ports: Sequence[int],
        containers_only: Sequence[int],
        egress: Sequence[str] | None,
    ) -> None:
        """The rules on every node, by the guard; tasks leave their node by its `docker_gwbridge`, and
        reach no node's services (the model port is on the gateway's overlay, not on a node)."""
        await self.guard_nodes(stack, self._guard_image, open_ports, egress)

    async def guard_nodes(
        self, stack: str, image: str, open_ports: Sequence[int], egress: Sequence[str] | None
    ) -> None:
        """Hold the host firewall on every node workloads may run on (node_guard.py) and wait until it
        holds on each; from then on a workload starts only on a node where it does. FirewallError if
        it does not hold everywhere within the start time, or the engine refuses (e.g. the registry
        refuses the guard's image)."""
        self._guard_args = (stack, image, list(open_ports), list(egress) if egress is not None else None)
        try:
            self._guard_id = await self._sdk.run(self._ensure_guard, *self._guard_args)
            tasks: list[dict[str, Any]] = []
            for _ in range(int(self._start_seconds / POLL_PAUSE_SECONDS)):
                tasks = await self._sdk.run(self._guard_tasks)
                if tasks and all(task["Status"]["State"] == "running" for task in tasks):
                    log.info("the host firewall holds on %d swarm nodes", len(tasks))
                    return
                await asyncio.sleep(POLL_PAUSE_SECONDS)
        except ApplianceError as exc:
            raise FirewallError(f"the guard service cannot hold the host firewall: {exc.message}") from exc
        states = ", ".join(
            f"{t['NodeID'][:12]}: {t['Status'].get('Err') or t['Status']['State']}" for t in tasks
        )
        raise FirewallError(f"the host firewall does not hold on every swarm node ({states or 'no node'})")

    async def reguard(self) -> None:
        """Make the guard anew if the swarm's nodes changed (a node that joins gets a guard task of
        its own at once, but the others deny its address only from then on)."""
        if self._guard_args is None:
            return
        try:
            if await self._sdk.run(self._node_addresses) == self._guard_denies:
                return
            self._guard_id = await self._sdk.run(self._ensure_guard, *self._guard_args)
        except ApplianceError as exc:
            log.error("the guard could not follow the swarm's nodes (%s); trying again", exc.message)

    def _ensure_guard(self, stack: str, image: str, open_ports: list[int], egress: list[str] | None) -> str:
        """The stack's guard service, made anew if its rules changed (the rules stay on the nodes
        meanwhile: `hold` never removes them)."""
        api = self._sdk.client().api
        denied = self._node_addresses()
        command = guard_command(stack, open_ports, egress, denied)
        pinned = self._pinned_image(image)
        name = service_name(f"rcoder-{stack}-guard")
        for service in api.services(filters={"name": name}):
            container = service["Spec"]["TaskTemplate"]["ContainerSpec"]
            if service["Spec"]["Name"] != name:
                continue
            if container.get("Command") == command and container["Image"] == pinned:
                self._guard_denies = denied
                return service["ID"]
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_service(service["ID"])
        template = guard_template(pinned, command, self._constraints)
        labels = labels_for(stack, label_keys.KIND_GUARD)
        created = api.create_service(template, name=name, labels=labels, mode=ServiceMode("global"))
        self._guard_denies = denied
        return created["ID"]

    def _node_addresses(self) -> set[str]:
        return node_addresses(self._sdk.client().api.nodes())

    def _guard_tasks(self) -> list[dict[str, Any]]:
        """The guard's tasks meant to run; none when it was removed (no workload starts then)."""
        try:
            return self._sdk.client().api.tasks(
                filters={"service": self._guard_id, "desired-state": "running"}
            )
        except docker.errors.NotFound:
            return []

    def _guarded(self, node_id: str) -> bool:
        """Whether the host firewall holds on the node (true where no guard is asked for)."""
        if not self._guard_id:
            return True
        return any(t["NodeID"] == node_id and t["Status"]["State"] == "running" for t in self._guard_tasks())

    def _service_and_task(self, service_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return self._sdk.client().api.inspect_service(service_id), self._newest_task(service_id)

    async def events(self, labels: dict[str, str]) -> AsyncIterator[ContainerGone]:
        """Services carrying `labels` whose task stops running (die) or that go (destroy), read every
        POLL_SECONDS, as the manager reports no task events. A service paused (scaled to zero) is
        neither. Every REJOIN_POLLS polls, the attached containers rejoin the overlays (a proxy made
        anew after the gateway started), and the guard denies nodes that joined since it was made."""
        running: dict[str, Container] = {}
        for polls in itertools.count():
            if polls % REJOIN_POLLS == REJOIN_POLLS - 1:
                await self._sdk.run(self._rejoin, {**labels, label_keys.KIND: label_keys.KIND_NETWORK})
                await self.reguard()
            now = {c.id: c for c in await self.find(labels)}
            for service_id, known in list(running.items()):
                current = now.get(service_id)
                if current is not None and (current.running or current.paused):
                    continue
                del running[service_id]
                if current is None:
                    yield ContainerGone(service_id, "destroy", known.labels, known.name)
                else:
                    yield ContainerGone(
                        service_id, "die", known.labels, known.name, await self._exit_code(service_id)
                    )
            running.update({c.id: c for c in now.values() if c.running})
            await asyncio.sleep(POLL_SECONDS)

    async def _exit_code(self, service_id: str) -> int | None:
        """The exit code of the service's task; None if it has none, or the service went meanwhile."""

        def exit_code() -> int | None:
            with contextlib.suppress(docker.errors.NotFound):
                task = self._newest_task(service_id) or {}
                return task.get("Status", {}).get("ContainerStatus", {}).get("ExitCode")
            return None

        return await self._sdk.run(exit_code)

    async def logs(self, container_id: str) -> str:
        return await self._sdk.run(self._service_logs, container_id)

    async def remove(self, container_id: str) -> None:
        """Remove the service, whatever its state, and then its network; one already gone is not an error."""

        def remove() -> str | None:
            api = self._sdk.client().api
            try:
                network = api.inspect_service(container_id)["Spec"].get("Labels", {}).get(label_keys.NETWORK)
                api.remove_service(container_id)
            except docker.errors.NotFound:
                return None
            return network

        if network := await self._sdk.run(remove):
            self._leave_later(network)

    def _leave_later(self, network: str) -> None:
        """Remove the network in the background, once the removed service's task has let go of it."""
        task = asyncio.get_running_loop().create_task(self._leave_network(network))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def close(self) -> None:
        """Finish removing networks (for a while), then close the client."""
        if self._leaving:
            await asyncio.wait(self._leaving, timeout=10)
        for task in self._leaving:
            task.cancel()
        await self._sdk.close()

    def _update(self, service: dict[str, Any], **changes: Any) -> None:
        """Update the service's spec with `changes`, at the version it was read at."""
        spec = service["Spec"]
        self._sdk.client().api.update_service(
            service["ID"],
            service["Version"]["Index"],
            task_template=changes.get("task_template", spec["TaskTemplate"]),
            name=spec["Name"],
            labels=changes.get("labels", spec.get("Labels")),
            mode=changes.get("mode", spec.get("Mode")),
            endpoint_spec=spec.get("EndpointSpec"),
        )

    def _newest_task(self, service_id: str) -> dict[str, Any] | None:
        """The service's current task: the newest one meant to run, else the newest of all (a task
        being shut down may still be running after a newer one was made)."""
        tasks = self._sdk.client().api.tasks(filters={"service": service_id})
        meant = [t for t in tasks if t.get("DesiredState") == "running"]
        return max(meant or tasks, key=lambda t: t["CreatedAt"], default=None)

    def _service_container(self, service: dict[str, Any]) -> Container:
        return self._container(service, self._newest_task(service["ID"]))

    def _container(self, service: dict[str, Any], task: dict[str, Any] | None) -> Container:
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

    def _service_logs(self, service_id: str) -> str:
        try:
            chunks = self._sdk.client().api.service_logs(
                service_id, stdout=True, stderr=True, tail=LOG_TAIL_LINES
            )
            return b"".join(chunks).decode(errors="replace")
        except docker.errors.APIError:
            return "(no logs)"
