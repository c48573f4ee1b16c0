"""Package boundaries are dependency boundaries: only the HTTP package imports Sanic, only the engine
backends import docker, only the runner client imports grpc, and nothing below the HTTP layer
imports it (STYLE.md, guideline 0)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPLIANCE = ROOT / "appliance"
ENGINE_BACKENDS = {"appliance/containers/docker_engine.py"}
# Who may import what (a top-level module name, or a package of ours).
ALLOWED = {
    "sanic": lambda path: path.startswith("appliance/http/"),
    "sanic_ext": lambda path: path.startswith("appliance/http/"),
    "docker": lambda path: path in ENGINE_BACKENDS,
    "grpc": lambda path: path == "appliance/runner_client.py",
    "grpc_health": lambda path: path == "appliance/runner_client.py",
    # The HTTP layer sits on top: only it and the command that serves it import it.
    "appliance.http": lambda path: path.startswith("appliance/http/") or path == "appliance/cli.py",
}


def imports(path: Path) -> set[str]:
    """Every module `path` imports, with each of its parent packages (a.b.c → a, a.b, a.b.c)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
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


def test_each_dependency_stays_inside_its_layer():
    assert violations() == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The rule itself can fail: a core module that imported docker would be reported."""
    (tmp_path / "appliance").mkdir()
    (tmp_path / "appliance" / "turns.py").write_text("import docker\nfrom sanic import Sanic\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "APPLIANCE", tmp_path / "appliance")
    assert violations() == ["appliance/turns.py imports docker", "appliance/turns.py imports sanic"]
