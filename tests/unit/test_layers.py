"""Package boundaries are dependency boundaries: only the HTTP package imports Sanic, only the engine
backends import docker (and no backend imports another), only the runner client imports grpc, and
nothing below the HTTP layer imports it (STYLE.md, guidelines 0 and 3). The client (rcoder/) speaks
HTTP only: of the gateway it reads the models that document the API, and none of the server side."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE = ROOT / "appliance"
CLIENT = ROOT / "rcoder"
ENGINES = "appliance/engines/"
BACKENDS = ("docker", "swarm", "kubernetes")  # one package each
DOCKER_PLUMBING = {"appliance/engines/docker_sdk.py"}  # shared by docker/ and swarm/, by composition


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


# What the client never loads, and the only modules of the gateway it may import.
SERVER_SIDE = ("sanic", "sanic_ext", "docker", "grpc", "grpc_health", "duckdb")
CLIENT_MAY_IMPORT = {
    "appliance.http.bodies",
    "appliance.http.replies",
    "appliance.errors",
    "rcoder_rpc.contract",
}
# `rcoder` with no subcommand is the gateway: its dispatcher imports the gateway's command, lazily.
DISPATCHER = ("rcoder/cli.py", "appliance.cli")


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
            server_side = name.split(".")[0] in SERVER_SIDE
            gateway = (
                name.split(".")[0] in ("appliance", "runner", "rcoder_rpc") and name not in CLIENT_MAY_IMPORT
            )
            if (server_side or gateway) and (relative, name) != DISPATCHER:
                found.append(f"{relative} imports {name}")
    return found


def test_each_dependency_stays_inside_its_layer():
    assert violations() == []
    assert backend_violations() == []
    assert client_violations() == []


def loaded_by(statement: str) -> list[str]:
    """The top-level modules a fresh interpreter has loaded after running `statement`."""
    script = f"{statement}; import sys; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return result.stdout.split()


def test_the_client_loads_none_of_the_server_side():
    loaded = loaded_by("import rcoder; rcoder.Appliance; import rcoder.commands, rcoder.sync")
    assert "httpx" in loaded and "rich" in loaded, "the check sees what the client loads"
    assert [name for name in SERVER_SIDE if name in loaded] == []


@pytest.mark.parametrize("statement", ["import rcoder.cli", "import rcoder"])
def test_the_gateways_command_loads_none_of_the_client(statement):
    """`rcoder` runs the gateway in its image, which carries none of the client's dependencies."""
    loaded = loaded_by(statement)
    assert [name for name in ("httpx", "rich", "pydantic", "yaml") if name in loaded] == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The rule itself can fail: a core module that imported docker would be reported."""
    (tmp_path / "appliance").mkdir()
    (tmp_path / "appliance" / "turns.py").write_text("import docker\nfrom sanic import Sanic\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "APPLIANCE", tmp_path / "appliance")
    assert violations() == ["appliance/turns.py imports docker", "appliance/turns.py imports sanic"]
    (tmp_path / "appliance" / "engines" / "swarm").mkdir(parents=True)
    (tmp_path / "appliance" / "engines" / "swarm" / "x.py").write_text(
        "from appliance.engines.docker import DockerEngine\n"
    )
    assert backend_violations() == ["appliance/engines/swarm/x.py imports appliance.engines.docker"]
    (tmp_path / "rcoder").mkdir()
    (tmp_path / "rcoder" / "client.py").write_text(
        "import duckdb\nfrom appliance.http.replies import Health\nfrom appliance.turns import Turns\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "CLIENT", tmp_path / "rcoder")
    assert client_violations() == [
        "rcoder/client.py imports appliance.turns",
        "rcoder/client.py imports duckdb",
    ]
