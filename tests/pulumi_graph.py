"""The Pulumi program's resource graph, as Pulumi's own mocks see it.

infra/__main__.py (what `pulumi up` runs) runs in-process against a mock resource monitor (no
CLI, no provider plugin), with pulumi-docker's real SDK classes. Every resource it registers is
recorded: type, name, inputs (secrets unwrapped, and the paths of the secret ones noted), parent,
provider and dependencies; so are the outputs each component registers and the stack's exports.
Unit tests assert on this graph; tests/integration/test_pulumi_up.py runs the program for real.
"""

from __future__ import annotations

import asyncio
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc

PROGRAM = Path(__file__).resolve().parent.parent / "infra"
SIG = rpc._special_sig_key
SECRET = rpc._special_secret_sig


@dataclass
class Resource:
    type: str
    name: str
    urn: str
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    secrets: set[str]  # dotted paths of the inputs that are secret, e.g. "uploads.0.content"


@dataclass
class Graph:
    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # component URN → its outputs
    exports: dict[str, Any] = field(default_factory=dict)  # the stack's outputs (`pulumi stack output`)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        [resource] = [r for r in self.resources if r.name == name]
        return resource

    def container(self, name: str) -> Resource:
        """The Docker container of that name (its component has the same name)."""
        [resource] = [r for r in self.of_type("docker:index/container:Container") if r.name == name]
        return resource

    def by_urn(self, urn: str) -> Resource:
        [resource] = [r for r in self.resources if r.urn == urn]
        return resource

    def depends_on(self, resource: Resource, other: Resource) -> bool:
        """Whether `resource` waits for `other` (directly or through its dependencies)."""
        seen, todo = set(), list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn == other.urn:
                return True
            if urn not in seen:
                seen.add(urn)
                todo.extend(self.by_urn(urn).dependencies)
        return False


def unwrap(value: Any, path: str, secrets: set[str]) -> Any:
    """`value` without Pulumi's secret wrappers, noting where they were."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET:
            secrets.add(path)
            return unwrap(value["value"], path, secrets)
        return {k: unwrap(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v, f"{path}.{i}", secrets) for i, v in enumerate(value)]
    return value


class Mocks(pulumi.runtime.Mocks):
    """Resources answer with their inputs; an image's id is its name (what a container runs)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = args.inputs["name"]
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, mocks_: Mocks) -> None:
        super().__init__(mocks_)
        self.graph = Graph()

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            secrets: set[str] = set()
            inputs = unwrap(rpc.deserialize_properties(request.object), "", secrets)
            self.graph.resources.append(
                Resource(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    inputs=inputs,
                    secrets=secrets,
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        self.graph.outputs[request.urn] = unwrap(rpc.deserialize_properties(request.outputs), "", set())
        return super().RegisterResourceOutputs(request)


def run_program(config: dict[str, str], secret_keys: tuple[str, ...] = (), stack: str = "test") -> Graph:
    """Run the program with this stack config (keys without the `rcoder:` namespace) under mocks."""
    # Pulumi's runtime drives its own event loop; pytest-asyncio may have left none set.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks_ = Mocks()
    monitor = RecordingMonitor(mocks_)
    pulumi.runtime.set_mocks(mocks_, project="rcoder", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {f"rcoder:{key}": value for key, value in config.items()}, [f"rcoder:{key}" for key in secret_keys]
    )

    @pulumi.runtime.test
    def program():
        # What `pulumi up` runs (Pulumi.yaml's main), exports and all.
        runpy.run_path(str(PROGRAM), run_name="__main__")
        exports = pulumi.runtime.get_root_resource().outputs
        return pulumi.Output.all(**exports).apply(monitor.graph.exports.update)

    try:
        program()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return monitor.graph
