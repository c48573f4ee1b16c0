"""What `pulumi destroy` cannot remove: the containers (on a swarm, services) and volumes the gateway
created at run time (agents, desktops, workspaces, homes), found by their stack label, and its host
firewall rules."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

import docker

from appliance import labels


def remove_runtime_containers(engine: docker.DockerClient, stack: str) -> list[str]:
    """Stop the stack's gateway, so that it starts nothing more (a warm pool refilling would put a
    container back on the network `destroy` must remove); remove its agent, pod, desktop and files
    containers, or services on a swarm (before `destroy`, which removes their networks); then the
    gateway's firewall rules, with the gateway's own image, on the Docker host."""
    gateways = listed_containers(engine, {"label": [f"{labels.STACK}={stack}", f"{labels.KIND}=gateway"]})
    for gateway in gateways:
        with contextlib.suppress(docker.errors.NotFound):
            gateway.stop(timeout=10)
    removed = []
    for service in services(engine, stack):
        with contextlib.suppress(docker.errors.NotFound):
            service.remove()
        removed.append(f"service {service.name}")
    # Their overlays: the gateway, which removes them as their services go, is not asked here.
    for network in engine.networks.list(filters={"label": f"{labels.STACK}={stack}", "driver": "overlay"}):
        network.reload()
        for container in network.attrs.get("Containers") or {}:
            with contextlib.suppress(docker.errors.APIError):
                network.disconnect(container, force=True)
        remove_network(network)
        removed.append(f"network {network.name}")
    for kind in (labels.KIND_AGENT, labels.KIND_POD, labels.KIND_DESKTOP, labels.KIND_FILES):
        selector = [f"{labels.STACK}={stack}", f"{labels.KIND}={kind}"]
        for container in listed_containers(engine, {"label": selector}):
            remove_container(container)
            removed.append(container.name)
    for gateway in gateways:
        output = engine.containers.run(
            gateway.image.id,
            ["rcoder-firewall", "remove", "--stack", stack],
            network_mode="host",
            cap_drop=["ALL"],
            cap_add=["NET_ADMIN"],
            remove=True,
        )
        removed.append(output.decode().strip())
    return removed


def remove_leftovers(engine: docker.DockerClient, stack: str) -> list[str]:
    """Remove every container, network, workspace placement record (a swarm's) and volume still labelled
    with the stack (after `destroy`)."""
    selector = {"label": [f"{labels.STACK}={stack}"]}
    removed = []
    for service in services(engine, stack):
        with contextlib.suppress(docker.errors.NotFound):
            service.remove()
        removed.append(f"service {service.name}")
    for container in listed_containers(engine, selector):
        remove_container(container)
        removed.append(f"container {container.name}")
    for network in engine.networks.list(filters=selector):
        remove_network(network)
        removed.append(f"network {network.name}")
    for record in engine.configs.list(filters=selector) if swarm_manager(engine) else []:
        record.remove()
        removed.append(f"placement record {record.name}")
    for volume in engine.volumes.list(filters=selector):
        volume.remove(force=True)
        removed.append(f"volume {volume.name}")
    return removed


def listed_containers(engine: docker.DockerClient, filters: dict[str, Any]) -> list:
    """The containers, stopped ones too, that match `filters`; one removed between the engine's list and
    the SDK's inspect of it is left out (the gateway may still be removing containers)."""
    return engine.containers.list(all=True, filters=filters, ignore_removed=True)


def remove_container(container: Any) -> None:
    """Force-remove the container; one already gone, or on its way out (409), is what was wanted."""
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise


def swarm_manager(engine: docker.DockerClient) -> bool:
    return bool((engine.info().get("Swarm") or {}).get("ControlAvailable"))


def services(engine: docker.DockerClient, stack: str) -> list:
    """The stack's services, on a swarm manager (none elsewhere)."""
    if not swarm_manager(engine):
        return []
    return engine.services.list(filters={"label": f"{labels.STACK}={stack}"})


def remove_network(network) -> None:
    """Remove the network, waiting (up to a minute) while a removed service's task still holds it."""
    for _ in range(120):
        try:
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            time.sleep(0.5)
    network.remove()


def main() -> int:
    """`python -m infra.teardown <stack>` before `pulumi destroy`; with `--volumes` after it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stack", help="the stack's name (its rcoder:stack, default the Pulumi stack's)")
    parser.add_argument("--volumes", action="store_true", help="after destroy: remove everything left")
    args = parser.parse_args()
    engine = docker.from_env()
    removed = (
        remove_leftovers(engine, args.stack)
        if args.volumes
        else remove_runtime_containers(engine, args.stack)
    )
    print("\n".join(removed) or "nothing to remove")
    return 0


if __name__ == "__main__":
    sys.exit(main())
