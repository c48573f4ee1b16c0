"""Where the workspace volumes live. A volume is made on the node its workload's first task runs on,
and the manager cannot reach a node's volumes: a placement record (a Swarm config, which outlives the
service) keeps its node, and pins every later task of the workload there (docs/scale-out.md §2.4).

The methods block: the engine runs them through `DockerSdk.run`."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import docker.errors

from appliance import labels as label_keys
from appliance.engines.docker_sdk import DockerSdk
from appliance.engines.engine import ContainerSpec
from appliance.engines.swarm.services import newest_task, service_name, update
from appliance.errors import WorkspaceUnavailable

log = logging.getLogger(__name__)


def _volume_labels(record_labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in record_labels.items() if k not in (label_keys.VOLUME, label_keys.NODE)}


class Placements:
    """`constraints`: where workloads may run (e.g. `node.labels.rcoder.agents==true`)."""

    def __init__(self, sdk: DockerSdk, constraints: list[str]) -> None:
        self._sdk = sdk
        self._constraints = constraints

    def constraints(self, node_id: str | None) -> list[str]:
        """Where a workload may run: only on `node_id` if its workspace is there, else anywhere allowed."""
        return [*self._constraints, f"node.id=={node_id}"] if node_id else self._constraints

    def volumes(self, labels: dict[str, str]) -> dict[str, dict[str, str]]:
        """The workspace volumes on any node, as their placement records have them."""
        records = self._sdk.client().api.configs(
            filters={"label": [*label_keys.selector(labels), label_keys.VOLUME]}
        )
        return {
            record["Spec"]["Labels"][label_keys.VOLUME]: _volume_labels(record["Spec"]["Labels"])
            for record in records
        }

    def forget(self, volume: str) -> None:
        """Remove the volume's placement record. The volume itself stays on its node."""
        if record := self._record_of(volume):
            log.info(
                "workspace volume %s is left on node %s", volume, record["Spec"]["Labels"][label_keys.NODE]
            )
            with contextlib.suppress(docker.errors.NotFound):
                self._sdk.client().api.remove_config(record["ID"])

    def node_of(self, volume: str, workload: str) -> str | None:
        """The id of the node the volume lives on (None: a new workspace, anywhere the constraints
        allow); WorkspaceUnavailable while that node cannot run it."""
        record = self._record_of(volume)
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

    def pin(self, service_id: str, spec: ContainerSpec) -> None:
        """Keep the workload on the node its new workspace was made on: the service's placement (which
        Swarm applies without replacing a task that already satisfies it) and a placement record,
        which outlives the service."""
        api = self._sdk.client().api
        node_id = (newest_task(api, service_id) or {})["NodeID"]
        if self._record_of(spec.volume) is None:
            labels = {**spec.volume_labels, label_keys.VOLUME: spec.volume, label_keys.NODE: node_id}
            api.create_config(service_name(f"{spec.volume}.ws"), b"{}", labels=labels)
        service = api.inspect_service(service_id)
        template = dict(service["Spec"]["TaskTemplate"])
        template["Placement"] = {"Constraints": self.constraints(node_id)}
        update(api, service, task_template=template)

    def _record_of(self, volume: str) -> dict[str, Any] | None:
        found = self._sdk.client().api.configs(filters={"label": f"{label_keys.VOLUME}={volume}"})
        return found[0] if found else None
