"""locks/: every Python install's packages, each with its hash, resolved from pyproject.toml's pins and
locks/*.in (scripts/lock); .venv's pip installs nothing without a hash."""

from __future__ import annotations

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
