"""The Pulumi toolchain's versions (tools/pulumi/*/go.mod) agree with each other and with the SDK pins
in pyproject.toml, without building anything."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def required(go_mod: str, module: str) -> str:
    """The version go.mod requires of a module."""
    [version] = re.findall(rf"^\s*{re.escape(module)} (v\S+)", go_mod, re.MULTILINE)
    return version


def numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def test_the_cli_is_built_from_pkg_and_sdk_at_one_version_no_older_than_the_python_sdk():
    go_mod = (ROOT / "tools/pulumi/cli/go.mod").read_text()
    pins = dict(re.findall(r'"(pulumi|pulumi-docker)==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()))

    cli = required(go_mod, "github.com/pulumi/pulumi/pkg/v3")
    assert required(go_mod, "github.com/pulumi/pulumi/sdk/v3") == cli
    assert numbers(cli) >= numbers(pins["pulumi"]), "the CLI must not be older than the SDK it runs"
    assert "pulumi-docker" in pins, "scripts/pulumi-toolchain takes the plugin's version from this pin"


def test_the_provider_is_bridged_from_pinned_modules_and_patches_the_fork_it_pins():
    go_mod = (ROOT / "tools/pulumi/docker/go.mod").read_text()
    replaces = dict(re.findall(r"^replace (\S+) => (\S+(?: \S+)?)$", go_mod, re.MULTILINE))

    assert replaces["github.com/hashicorp/terraform-plugin-sdk/v2"].startswith(
        "github.com/pulumi/terraform-plugin-sdk/v2 v2.0.0-"
    ), "the bridge needs Pulumi's fork"
    assert re.fullmatch(
        r"github.com/kreuzwerker/terraform-provider-docker v0\.0\.0-\d{14}-[0-9a-f]{12}",
        replaces["github.com/terraform-providers/terraform-provider-docker"],
    ), "kreuzwerker's provider at one commit"
    assert (ROOT / "tools/pulumi/docker/_overlay/sdkv2/generate_resource_config.go").is_file()
