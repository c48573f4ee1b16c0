"""What `pulumi destroy` cannot remove: the containers and volumes the gateway created at run time
(agents, desktops, workspaces, homes), found by their stack label, and its host firewall rules."""

from __future__ import annotations

import argparse
import sys

import docker

from appliance.containers import labels


def remove_runtime_containers(engine: docker.DockerClient, stack: str) -> list[str]:
    """Remove the stack's agent and desktop containers (before `destroy`, which removes their networks),
    then the gateway's firewall rules, with the gateway's own image, on the Docker host."""
    removed = []
    for kind in (labels.KIND_AGENT, labels.KIND_DESKTOP):
        selector = [f"{labels.STACK}={stack}", f"{labels.KIND}={kind}"]
        for container in engine.containers.list(all=True, filters={"label": selector}):
            container.remove(force=True)
            removed.append(container.name)
    selector = [f"{labels.STACK}={stack}", f"{labels.KIND}=gateway"]
    for gateway in engine.containers.list(all=True, filters={"label": selector}):
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
    """Remove every container, network and volume still labelled with the stack (after `destroy`)."""
    selector = {"label": [f"{labels.STACK}={stack}"]}
    removed = []
    for container in engine.containers.list(all=True, filters=selector):
        container.remove(force=True)
        removed.append(f"container {container.name}")
    for network in engine.networks.list(filters=selector):
        network.remove()
        removed.append(f"network {network.name}")
    for volume in engine.volumes.list(filters=selector):
        volume.remove(force=True)
        removed.append(f"volume {volume.name}")
    return removed


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
