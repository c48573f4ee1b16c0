"""The Pulumi CLI that scripts/pulumi-toolchain builds, driven as an operator would: a stack of its own
on a throwaway file backend, its config in a file outside the repository, and every command's output
kept in a log and shown as it comes (the CI log shows each `pulumi up` and `pulumi destroy`)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = Path(os.environ.get("PULUMI_TOOLCHAIN_DIR") or ROOT / ".pulumi-toolchain")
BUILD_LOG = ROOT / ".build" / "pulumi-toolchain.log"  # where scripts/test's background build writes

Show = Callable[[str], None]


def toolchain_env() -> dict[str, str]:
    """The environment `. .pulumi-toolchain/env` gives: the built CLI first on PATH, its PULUMI_HOME, offline."""
    return {
        "PATH": f"{TOOLCHAIN / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PULUMI_HOME": str(TOOLCHAIN / "home"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }


def run(
    command: list[str],
    env: dict[str, str],
    log: Path,
    show: Show,
    timeout: float,
    check: bool = True,
    secret: str | None = None,
) -> str:
    """Run a command in the repository, streaming its output to `show` and the log; return the output.

    It is killed after `timeout` seconds; with `check`, a failure raises with the output's last lines.
    A `secret` in the command line is not shown.
    """
    shown = " ".join("[secret]" if part == secret else part for part in command)
    show(f"$ {shown}")
    lines: list[str] = []
    with (
        log.open("a") as file,
        subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process,
    ):
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                file.write(line)
                lines.append(line.rstrip("\n"))
                if not line.startswith("@ "):  # the CLI's progress dots
                    show(f"    {line.rstrip()}")
        finally:
            watchdog.cancel()
    output = "\n".join(lines)
    if check and process.returncode != 0:
        tail = "\n".join(lines[-40:])
        raise AssertionError(f"{shown} exited {process.returncode} (log: {log}):\n{tail}")
    return output


@dataclass
class Stack:
    """A Pulumi stack of this repository's program (Pulumi.yaml), on a file backend in `home`."""

    name: str
    home: Path
    show: Show
    passphrase: str = field(default_factory=lambda: secrets.token_hex(16))  # the stack's secrets' key

    @property
    def config_file(self) -> Path:
        return self.home / f"Pulumi.{self.name}.yaml"

    @property
    def log(self) -> Path:
        return self.home / "pulumi.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            **toolchain_env(),
            "PULUMI_BACKEND_URL": f"file://{self.home / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
        }

    @classmethod
    def create(cls, name: str, home: Path, show: Show) -> Stack:
        """`pulumi stack init`, its config file moved out of the repository (with its encryption salt)."""
        stack = cls(name, home, show)
        (home / "backend").mkdir(parents=True)
        stack.pulumi("stack", "init", name, timeout=60)
        (ROOT / f"Pulumi.{name}.yaml").rename(stack.config_file)
        return stack

    def pulumi(self, *args: str, timeout: float = 600, check: bool = True, secret: str | None = None) -> str:
        """Run `pulumi ARGS` against this stack and its config file."""
        scoped = (
            ["--non-interactive"]
            if args[:2] == ("stack", "init")
            else ["--stack", self.name, "--non-interactive"]
        )
        if args[0] in ("up", "destroy", "preview", "config", "refresh"):
            scoped += ["--config-file", str(self.config_file)]
        if args[0] in ("up", "destroy", "preview", "refresh"):
            scoped += ["--color", "never"]
        return run(["pulumi", *args, *scoped], self.env, self.log, self.show, timeout, check, secret)

    def set_config(self, key: str, value: str, secret: bool = False) -> None:
        flags = ["--secret"] if secret else []
        self.pulumi(
            "config", "set", *flags, f"rcoder:{key}", value, timeout=60, secret=value if secret else None
        )

    def outputs(self) -> dict:
        return json.loads(self.pulumi("stack", "output", "--json", timeout=60))


def wait_for(check: Callable[[], bool], seconds: float, interval: float = 0.5) -> bool:
    """Whether `check` holds within `seconds` (tried every `interval`)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@pytest.fixture
def show(capsys):
    """Print straight to the terminal, captured or not, so the CI log shows each pulumi command."""

    def show(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    return show


@pytest.fixture
def toolchain(show, tmp_path) -> dict[str, str]:
    """Build the toolchain, or wait for scripts/test's background build, or find it built."""
    try:
        run(["bash", "scripts/pulumi-toolchain"], {}, tmp_path / "toolchain.log", show, timeout=3000)
    except AssertionError:
        if BUILD_LOG.exists():
            show(f"background build, last lines of {BUILD_LOG}:\n{BUILD_LOG.read_text()[-3000:]}")
        raise
    return toolchain_env()
