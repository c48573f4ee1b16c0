"""Package boundaries are dependency boundaries: only the HTTP package imports Sanic, only the engine
backends import docker (and no backend imports another), only the runner client imports grpc,
and nothing below the HTTP layer imports it (docs/architecture.md, Layers). The client (rcoder/)
speaks HTTP only: it shares with the gateway the models that document the API (rcoder_wire/, which
needs nothing but pydantic), and none of the server side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE = ROOT / "appliance"
CLIENT = ROOT / "rcoder"
WIRE = ROOT / "rcoder_wire"
RUNNER = ROOT / "runner"
ENGINES = "appliance/engines/"
BACKENDS = ("docker", "swarm", "kubernetes")  # one package each
# Shared by docker/ and swarm/, by composition.
DOCKER_PLUMBING = {
    "appliance/engines/docker_sdk.py",
    "appliance/engines/runner_bundle.py",
    "appliance/engines/template_images.py",
}


def backend_of(path: str) -> str | None:
    """The engine backend whose package holds `path` (e.g. appliance/engines/swarm/guard.py: swarm)."""
    parts = path.split("/")
    return parts[2] if path.startswith(ENGINES) and len(parts) > 3 and parts[2] in BACKENDS else None


# Who may import what (a top-level module name, or a package of ours).
ALLOWED = {
    "sanic": lambda path: path.startswith("appliance/http/"),
    "sanic_ext": lambda path: path.startswith("appliance/http/"),
    "docker": lambda path: backend_of(path) in ("docker", "swarm") or path in DOCKER_PLUMBING,
    "kubernetes": lambda path: backend_of(path) == "kubernetes",
    "grpc": lambda path: path == "appliance/runner_client.py",
    "grpc_health": lambda path: path == "appliance/runner_client.py",
    # The HTTP layer sits on top: only it and the command that serves it import it.
    "appliance.http": lambda path: path.startswith("appliance/http/") or path == "appliance/cli.py",
}


# What the client never imports: the server side's dependencies, and its packages.
SERVER_SIDE = ("sanic", "sanic_ext", "docker", "grpc", "grpc_health", "duckdb")
GATEWAY_PACKAGES = ("appliance", "runner", "rcoder_rpc")
# What the client never loads: the packages above, and the gRPC side's dependencies.
NOT_IN_THE_CLIENT = (*SERVER_SIDE, *GATEWAY_PACKAGES, "google", "polib", "opentelemetry")
# What the wire models may import besides the standard library.
WIRE_MAY_IMPORT = ("pydantic", "rcoder_wire")
# What the runner never imports: the gateway, the client and their dependencies (its image has none of
# them). Of the wire package it shares only the constants of contract.py, which needs no pydantic.
NOT_IN_THE_RUNNER = ("appliance", "rcoder", "rcoder_wire", "sanic", "sanic_ext", "docker", "pydantic")
RUNNER_SHARES = ("rcoder_wire.contract",)
# The files server (runner/files/) runs on the standard library, its messages' catalogues aside.
FILES_MAY_IMPORT = ("runner.files", "rcoder_rpc.messages")


def imported_names(path: Path) -> set[str]:
    """Every module `path` imports, as written (absolute imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def imports(path: Path) -> set[str]:
    """Every module `path` imports, with each of its parent packages (a.b.c → a, a.b, a.b.c)."""
    found = set()
    for name in imported_names(path):
        parts = name.split(".")
        found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return found


def violations() -> list[str]:
    found = []
    for path in sorted(APPLIANCE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for module in sorted(imports(path) & ALLOWED.keys()):
            if not ALLOWED[module](relative):
                found.append(f"{relative} imports {module}")
    return found


def backend_violations() -> list[str]:
    """No backend module imports another backend."""
    found = []
    for path in sorted((APPLIANCE / "engines").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        own = backend_of(relative)
        for name in sorted(imported_names(path)):
            other = name.split(".")[2] if name.startswith("appliance.engines.") else None
            if own and other in BACKENDS and other != own:
                found.append(f"{relative} imports {name}")
    return found


def client_violations() -> list[str]:
    found = []
    for path in sorted(CLIENT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for name in sorted(imported_names(path)):
            if name.split(".")[0] in (*SERVER_SIDE, *GATEWAY_PACKAGES):
                found.append(f"{relative} imports {name}")
    return found


def wire_violations() -> list[str]:
    found = []
    for path in sorted(WIRE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for name in sorted(imported_names(path)):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in WIRE_MAY_IMPORT:
                found.append(f"{relative} imports {name}")
    return found


def runner_violations() -> list[str]:
    found = []
    for path in sorted(RUNNER.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        files = relative.startswith("runner/files/")
        for name in sorted(imported_names(path)):
            top = name.split(".")[0]
            outside = top in NOT_IN_THE_RUNNER and name not in RUNNER_SHARES
            beyond_stdlib = top not in sys.stdlib_module_names and not name.startswith(FILES_MAY_IMPORT)
            if outside or (files and beyond_stdlib):
                found.append(f"{relative} imports {name}")
    return found


def test_each_dependency_stays_inside_its_layer():
    assert violations() == []
    assert backend_violations() == []
    assert client_violations() == []
    assert wire_violations() == []
    assert runner_violations() == []


def loaded_by(statement: str) -> list[str]:
    """The top-level modules a fresh interpreter has loaded after running `statement`."""
    script = f"{statement}; import sys; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return result.stdout.split()


def test_the_client_loads_none_of_the_server_side():
    """`pip install 'rcoder[client]'` installs none of it: the client must not need it. Nor does it load
    websockets before a terminal opens (`rcoder shell`): the other commands do without."""
    loaded = loaded_by("import rcoder; rcoder.Appliance; import rcoder.commands, rcoder.project, rcoder.sync")
    assert "httpx" in loaded and "rich" in loaded and "rcoder_wire" in loaded, "the check sees the client"
    assert [name for name in (*NOT_IN_THE_CLIENT, "websockets") if name in loaded] == []


@pytest.mark.parametrize("statement", ["import rcoder.cli", "import rcoder"])
def test_rcoder_serve_loads_nothing_before_it_hands_over(statement):
    """`rcoder serve` runs where only the gateway is installed (the gateway's image carries no rich)."""
    loaded = loaded_by(statement)
    assert [name for name in ("httpx", "rich", "pydantic", "yaml", "appliance") if name in loaded] == []


def test_the_gateways_command_loads_none_of_the_client():
    """httpx, pydantic and PyYAML are the gateway's too; rich (which httpx loads when it is there) and
    the client's own modules are not: the gateway's command imports without them."""
    loaded = loaded_by("import sys; sys.modules['rich'] = None; import appliance.cli")
    assert "sanic" in loaded, "the check sees the gateway"
    assert "rcoder" not in loaded


def plant(monkeypatch: pytest.MonkeyPatch, root: Path, module: str, source: str, folder: str) -> None:
    """Write `module` (a path under `root`) and point ROOT and the check's `folder` constant at it."""
    path = root / module
    path.parent.mkdir()
    path.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", root)
    monkeypatch.setattr(sys.modules[__name__], folder, path.parent)


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The rule itself can fail: a core module that imported docker would be reported."""
    plant(
        monkeypatch, tmp_path, "appliance/turns.py", "import docker\nfrom sanic import Sanic\n", "APPLIANCE"
    )
    assert violations() == ["appliance/turns.py imports docker", "appliance/turns.py imports sanic"]
    swarm = tmp_path / "appliance" / "engines" / "swarm"
    swarm.mkdir(parents=True)
    (swarm / "x.py").write_text("from appliance.engines.docker import DockerEngine\n")
    assert backend_violations() == ["appliance/engines/swarm/x.py imports appliance.engines.docker"]
    client = "import duckdb\nfrom rcoder_wire.replies import Health\nfrom appliance.turns import Turns\n"
    plant(monkeypatch, tmp_path, "rcoder/client.py", client, "CLIENT")
    assert client_violations() == [
        "rcoder/client.py imports appliance.turns",
        "rcoder/client.py imports duckdb",
    ]
    wire = "import re\nfrom pydantic import BaseModel\nfrom rcoder_rpc.contract import ID\nimport yaml\n"
    plant(monkeypatch, tmp_path, "rcoder_wire/bodies.py", wire, "WIRE")
    assert wire_violations() == [
        "rcoder_wire/bodies.py imports rcoder_rpc.contract",
        "rcoder_wire/bodies.py imports yaml",
    ]
    runner = "from rcoder_wire.contract import ID\nfrom rcoder_wire.replies import FileList\nimport docker\n"
    plant(monkeypatch, tmp_path, "runner/service.py", runner, "RUNNER")
    (tmp_path / "runner" / "files").mkdir()
    (tmp_path / "runner" / "files" / "server.py").write_text("import grpc\nfrom rcoder_rpc import messages\n")
    assert runner_violations() == [
        "runner/files/server.py imports grpc",
        "runner/files/server.py imports rcoder_rpc",
        "runner/service.py imports docker",
        "runner/service.py imports rcoder_wire.replies",
    ]
