"""The module map in docs/architecture.md names every Python module of the product, and nothing else.

The map is the section `## Module map`, up to the next `## ` heading. In it, each package is a heading
that names its folder in backticks, `### `appliance/engines/swarm/``; the heading stands for the
package's `__init__.py`. Under it, each module is a bullet of one line: its file name in backticks
(several may share a bullet, separated by commas), a colon and what it does:

    - `engine.py`: `SwarmEngine`: each workload a one-replica service on an overlay of its own.
    - `agent_pb2.py`, `agent_pb2_grpc.py`: generated from `agent.proto` by `make codegen`.

A file name may hold a subfolder (`workspace-volumes/driver.py` under `images/`). Other lines are prose.
When a module is added, renamed or removed, this test names what the map must gain or lose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture.md"
# The product's Python: every .py under these folders must be in the map.
PRODUCT = ("appliance", "runner", "rcoder", "rcoder_wire", "proto/rcoder_rpc", "infra", "bench", "images")

SECTION = "## Module map"
PACKAGE = re.compile(r"^### `([\w./-]+/)`\s*$")
MODULES = re.compile(r"^- ((?:`[^`]+`, )*`[^`]+`): \S")
NAME = re.compile(r"`([^`]+)`")


@dataclass
class Check:
    missing: list[str] = field(default_factory=list)  # modules that exist and the map does not name
    stale: list[str] = field(default_factory=list)  # what the map names and does not exist
    unreadable: list[str] = field(default_factory=list)  # lines of the map that break its format


def modules(root: Path, folders: tuple[str, ...] = PRODUCT) -> set[str]:
    """Every Python module under `folders`, as a path from `root`."""
    found = set()
    for folder in folders:
        for path in (root / folder).rglob("*.py"):
            parts = path.relative_to(root).parts
            if not any(part == "__pycache__" or part.startswith(".") for part in parts):
                found.add("/".join(parts))
    return found


def read_map(text: str) -> tuple[list[str], list[str], list[str]]:
    """The map's package folders and module paths, in order, and the lines that break its format."""
    lines = text.splitlines()
    if SECTION not in lines:
        return [], [], [f"no '{SECTION}' section"]
    packages: list[str] = []
    named: list[str] = []
    unreadable: list[str] = []
    for line in lines[lines.index(SECTION) + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("#"):
            if match := PACKAGE.match(line):
                packages.append(match[1])
            else:
                unreadable.append(f"{line}  (a package heading is ### `folder/`)")
        elif line.startswith("- "):
            match = MODULES.match(line)
            if not match or not packages:
                unreadable.append(f"{line}  (a module is - `name.py`: what it does, under a package heading)")
                continue
            for name in NAME.findall(match[1]):
                if not name.endswith(".py") or name.endswith("__init__.py") or name.startswith("/"):
                    unreadable.append(f"{line}  ({name}: a module's file, not __init__.py)")
                else:
                    named.append(packages[-1] + name)
    return packages, named, unreadable


def check(root: Path, text: str, folders: tuple[str, ...] = PRODUCT) -> Check:
    packages, named, unreadable = read_map(text)
    result = Check(unreadable=unreadable)
    result.stale += [f"{package} (no such folder)" for package in packages if not (root / package).is_dir()]
    covered = set(named) | {package + "__init__.py" for package in packages}
    result.stale += sorted({path for path in named if not (root / path).is_file()})
    result.stale += sorted({path for path in named if named.count(path) > 1} - set(result.stale))
    result.missing = sorted(modules(root, folders) - covered)
    return result


def test_the_module_map_names_every_module_and_only_those():
    result = check(ROOT, MAP.read_text())
    where = "the module map in docs/architecture.md"
    assert not result.unreadable, f"lines of {where} that break its format (see this test's docstring):\n" + (
        "\n".join(result.unreadable)
    )
    assert not result.missing, f"modules {where} must name, a bullet each:\n" + "\n".join(result.missing)
    assert not result.stale, f"entries of {where} naming no module, or one twice:\n" + "\n".join(result.stale)


def test_the_check_sees_a_missing_a_stale_and_an_unreadable_entry(tmp_path):
    for path in ("pkg/__init__.py", "pkg/kept.py", "pkg/added.py", "pkg/sub/__init__.py", "pkg/sub/deep.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    text = "\n".join(
        [
            "# Architecture",
            "## Module map",
            "Prose is ignored.",
            "### `pkg/`",
            "- `kept.py`, `removed.py`: two modules, one of them gone.",
            "- `kept.py`: named twice.",
            "- kept.py has no backticks",
            "### `pkg/sub/`",
            "- `deep.py`: the map stands for sub/__init__.py by the heading.",
            "### `gone/`",
            "## After the map",
            "- `not_read.py`: past the section",
        ]
    )

    result = check(tmp_path, text, folders=("pkg",))

    assert result.missing == ["pkg/added.py"]
    assert result.stale == ["gone/ (no such folder)", "pkg/removed.py", "pkg/kept.py"]
    assert result.unreadable == [
        "- kept.py has no backticks  (a module is - `name.py`: what it does, under a package heading)"
    ]
    assert check(tmp_path, "# No map here", folders=("pkg",)).unreadable == ["no '## Module map' section"]
