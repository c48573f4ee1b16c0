"""locks/: every Python install's packages, each with its hash, resolved from pyproject.toml's pins and
locks/*.in (scripts/lock); .venv's pip installs nothing without a hash. The images' npm packages: exact
pins in package.json, each package in package-lock.json with its integrity hash."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.unhashed_wheel import REFUSED, write_unhashed_wheel

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "locks"
# Each lock and what it resolves: pyproject's extras (with its dependencies), or an .in file.
PROJECT_LOCKS = {
    "gateway": ["gateway"],
    "runner": ["runner"],
    "desktop": ["runner", "desktop"],
    "client": ["client"],
    "dev": ["gateway", "runner", "desktop", "deploy", "dev"],
}
IN_LOCKS = ["build", "node", "mcp-fetch", "go"]
# The folders whose package-lock.json an image installs with `npm ci`.
NPM_PROJECTS = ["images/agent/adapters", "images/gateway/console"]
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
INTEGRITY = re.compile(r"^sha512-[A-Za-z0-9+/]{86}==$")
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)")
# An extra that includes others of this project: "rcoder[rpc]".
SELF = re.compile(r"^rcoder\[([^\]]+)\]$")


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def locked(lock: str) -> dict[str, str]:
    """{package: version} of a lock, each entry checked to carry at least one sha256 hash."""
    text = (LOCKS / f"{lock}.txt").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    pins = {}
    for entry in entries:
        match = PIN.match(entry)
        assert match, f"locks/{lock}.txt: not a pin: {entry[:80]!r}"
        assert "--hash=sha256:" in entry, f"locks/{lock}.txt: {match[1]} has no hash"
        pins[normal(match[1])] = match[2]
    return pins


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        if match := PIN.match(line.strip()):
            found[normal(match[1])] = match[2]
    return found


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def extra_pins(extra: str) -> dict[str, str]:
    """The pins of one of pyproject's extras, with those of the extras it includes."""
    requirements = PROJECT["optional-dependencies"][extra]
    found = pins(requirements)
    for requirement in requirements:
        if included := SELF.match(requirement):
            for name in included[1].split(","):
                found |= extra_pins(name)
    return found


def test_an_extra_that_includes_another_has_its_pins():
    assert extra_pins("gateway")["grpcio"] == extra_pins("rpc")["grpcio"]
    assert "grpcio" not in extra_pins("client")


@pytest.mark.parametrize("lock", PROJECT_LOCKS)
def test_a_project_lock_holds_every_pin_of_its_extras_at_that_version_with_hashes(lock):
    wanted = pins(PROJECT["dependencies"])
    for extra in PROJECT_LOCKS[lock]:
        wanted |= extra_pins(extra)
    wanted |= pins((LOCKS / "build.in").read_text().splitlines())

    found = locked(lock)

    assert {name: found.get(name) for name in wanted} == wanted, "run make lock"


@pytest.mark.parametrize("lock", IN_LOCKS[1:])
def test_a_lock_from_an_in_file_holds_its_pins_with_hashes(lock):
    wanted = pins((LOCKS / f"{lock}.in").read_text().splitlines())
    found = locked(lock)
    assert {name: found.get(name) for name in wanted} == wanted, "run make lock"


@pytest.mark.parametrize("folder", NPM_PROJECTS)
def test_an_npm_lock_holds_every_exact_pin_and_every_package_with_its_integrity(folder):
    pins = json.loads((ROOT / folder / "package.json").read_text())["dependencies"]
    lock = json.loads((ROOT / folder / "package-lock.json").read_text())

    inexact = {name: version for name, version in pins.items() if not EXACT_VERSION.match(version)}
    assert not inexact, f"{folder}/package.json pins exact versions only"
    assert lock["lockfileVersion"] == 3
    assert lock["packages"][""]["dependencies"] == pins, "run make lock"
    assert {name: lock["packages"][f"node_modules/{name}"]["version"] for name in pins} == pins
    for path, entry in lock["packages"].items():
        if path:
            assert INTEGRITY.match(entry.get("integrity", "")), f"{folder}: {path} has no sha512 integrity"


def test_the_console_locks_the_xterm_files_the_gateway_image_copies():
    """images/gateway/Dockerfile copies these files of these versions (docs/client.md names them)."""
    pins = json.loads((ROOT / "images/gateway/console/package.json").read_text())["dependencies"]
    dockerfile = (ROOT / "images/gateway/Dockerfile").read_text()

    assert pins == {"@xterm/xterm": "6.0.0", "@xterm/addon-fit": "0.11.0"}
    for copied in (
        "@xterm/xterm/lib/xterm.mjs",
        "@xterm/xterm/css/xterm.css",
        "@xterm/addon-fit/lib/addon-fit.mjs",
    ):
        assert f"node_modules/{copied}" in dockerfile
    assert "npm ci --ignore-scripts" in dockerfile and "--require-hashes -r /tmp/node.txt" in dockerfile


def test_the_venv_refuses_a_package_without_its_hash(tmp_path):
    """The pip.conf scripts/bootstrap writes: a wheel given without its hash is not installed."""
    wheel = write_unhashed_wheel(tmp_path)

    tried = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--dry-run", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert tried.returncode != 0
    assert REFUSED in tried.stderr
