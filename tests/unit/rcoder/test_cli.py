"""rcoder/cli.py: `rcoder` is the client; `rcoder serve` hands the process to the gateway's command."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys

import pytest

from rcoder import cli

COMMANDS = (
    *("chat", "status", "stop", "cancel", "preview", "desktop", "logs", "containers", "agents"),
    *("files", "download", "upload", "shell", "serve"),
)


def exit_of(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    return exited.value.code


def rcoder(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m rcoder ARGS`, as a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "rcoder", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_every_command(capsys):
    assert exit_of(["-h"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS), out


def test_version_names_the_installed_package(capsys):
    assert exit_of(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"rcoder {importlib.metadata.version('rcoder')}"


def test_python_m_rcoder_is_the_command():
    ran = rcoder("-h")
    assert ran.returncode == 0, ran.stderr
    assert "serve" in ran.stdout


def test_serve_runs_the_gateways_command_with_its_flags():
    ran = rcoder("serve", "--print-config", "--port", "9123")
    assert ran.returncode == 0, ran.stderr
    assert "port: 9123" in ran.stdout
    assert rcoder("serve", "-h").stdout.startswith("usage: rcoder-gateway")


def no_gateway_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/bin/python")
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)


def no_gateway_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """As after `pip install 'rcoder[client]'`: the script is there, the gateway's packages are not."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "sanic" else find_spec(name)
    )


@pytest.mark.parametrize("missing", [no_gateway_script, no_gateway_packages])
def test_serve_without_the_gateway_says_how_to_install_it(missing, monkeypatch):
    missing(monkeypatch)
    # Were the gateway found after all, the test's own process must not become it.
    monkeypatch.setattr(cli.os, "execv", lambda *args: pytest.fail("nothing to run"))
    assert (
        exit_of(["serve"]) == "rcoder serve: the gateway is not installed here: pip install 'rcoder[gateway]'"
    )
