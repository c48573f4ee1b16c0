"""The gateway image's `rcoder-gateway`: configuration precedence at each level, and start-up refusing bad keys."""

from __future__ import annotations

import pytest
import yaml

from tests.stack import image

pytestmark = pytest.mark.engine

CONFIG_PATH = "/etc/rcoder/config.yml"


def rcoder_gateway(engine, tmp_path, *args: str, environment: dict | None = None, config: str | None = None):
    """Run `rcoder-gateway ARGS` in the gateway image; returns (exit code, output)."""
    volumes = {}
    if config is not None:
        (tmp_path / "config.yml").write_text(config)
        volumes[str(tmp_path / "config.yml")] = {"bind": CONFIG_PATH, "mode": "ro"}
    container = engine.containers.run(
        image("gateway"),
        ["rcoder-gateway", *args],
        environment=environment or {},
        volumes=volumes,
        detach=True,
    )
    try:
        exit_code = container.wait(timeout=60)["StatusCode"]
        return exit_code, container.logs().decode()
    finally:
        container.remove(force=True)


def effective(engine, tmp_path, *args, **kwargs) -> dict:
    exit_code, output = rcoder_gateway(engine, tmp_path, "--print-config", *args, **kwargs)
    assert exit_code == 0, output
    return yaml.safe_load(output)


def test_each_source_overrides_the_one_below(engine, tmp_path):
    config = "port: 9001\nengine_config:\n  stack: fromfile\n"
    with_file = ["--config", CONFIG_PATH]

    defaults = effective(engine, tmp_path)
    from_file = effective(engine, tmp_path, *with_file, config=config)
    from_env = effective(engine, tmp_path, *with_file, config=config, environment={"RCODER_PORT": "9002"})
    from_cli = effective(
        engine, tmp_path, *with_file, "--port", "9003", config=config, environment={"RCODER_PORT": "9002"}
    )

    assert defaults["port"] == 8087 and defaults["engine_config"]["stack"] == "default"
    assert from_file["port"] == 9001 and from_file["engine_config"]["stack"] == "fromfile"
    assert from_env["port"] == 9002 and from_env["engine_config"]["stack"] == "fromfile"
    assert from_cli["port"] == 9003


def test_secrets_are_masked(engine, tmp_path):
    shown = effective(engine, tmp_path, environment={"RCODER_API_KEY": "sk-do-not-print"})
    assert shown["api_key_auth"]["api_key"] == "***"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "engine_config:\n  stak: typo\n",
            f"unknown configuration key 'engine_config.stak' (from config file {CONFIG_PATH})",
        ),
        ("port: high\n", f"port must be an integer, got 'high' (from config file {CONFIG_PATH})"),
    ],
)
def test_a_bad_config_file_stops_start_up_naming_the_key_and_the_file(engine, tmp_path, config, expected):
    exit_code, output = rcoder_gateway(engine, tmp_path, "--config", CONFIG_PATH, config=config)
    assert exit_code != 0
    assert expected in output
