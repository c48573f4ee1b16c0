"""appliance/config.py: each source overrides the one below it, and bad input names its key and source."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, EngineConfig, read_api_key, registry_login
from appliance.config_loader import describe, load_config


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(
        "port: 9001\nprojects_dir: /from/file\nengine_config:\n  stack: filestack\n  api_timeout_seconds: 7\n"
    )
    return str(path)


def test_defaults_apply_when_nothing_is_given():
    config = load_config({}, environ={})
    assert config == Config()
    assert config.port == 8087 and config.workspace_path == "/app/project_workspace"


def test_the_file_overrides_the_defaults(config_file):
    config = load_config({}, environ={}, config_file=config_file)
    assert (config.port, config.engine_config.stack, config.engine_config.api_timeout_seconds) == (
        9001,
        "filestack",
        7,
    )


def test_the_environment_overrides_the_file(config_file):
    environ = {"RCODER_PORT": "9002", "RCODER_STACK": "envstack"}
    config = load_config({}, environ=environ, config_file=config_file)
    assert (config.port, config.engine_config.stack, config.projects_dir) == (9002, "envstack", "/from/file")


def test_cli_flags_override_the_environment(config_file):
    environ = {"RCODER_PORT": "9002", "RCODER_PROJECTS_DIR": "/from/env"}
    config = load_config({"port": 9003, "projects_dir": None}, environ=environ, config_file=config_file)
    assert (config.port, config.projects_dir) == (9003, "/from/env")


def test_the_config_file_can_come_from_the_environment(config_file):
    assert load_config({}, environ={"RCODER_CONFIG": config_file}).port == 9001


def test_an_unknown_key_names_the_key_and_the_file(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("engine_config:\n  stak: typo\n")
    with pytest.raises(
        ConfigError, match=rf"unknown configuration key 'engine_config.stak' \(from config file {path}\)"
    ):
        load_config({}, environ={}, config_file=str(path))


def renamed_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "docker_config" in r.getMessage()]


def test_the_old_section_name_is_read_with_one_warning(tmp_path, caplog):
    path = tmp_path / "config.yml"
    path.write_text("docker_config:\n  stack: oldname\n  api_timeout_seconds: 7\n")
    with caplog.at_level(logging.WARNING):
        config = load_config({"docker_config.agent_image": "img:old"}, environ={}, config_file=str(path))
    assert (config.engine_config.stack, config.engine_config.api_timeout_seconds) == ("oldname", 7)
    assert config.engine_config.agent_image == "img:old"
    [warning] = renamed_warnings(caplog)
    assert "use engine_config" in warning
    assert f"config file {path}" in warning and "command-line flag for docker_config.agent_image" in warning


def test_the_new_section_name_warns_of_nothing(config_file, caplog):
    with caplog.at_level(logging.WARNING):
        load_config({"engine_config.stack": "flagstack"}, environ={}, config_file=config_file)
    assert renamed_warnings(caplog) == []


def test_a_source_above_overrides_the_old_name_as_it_does_the_new(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("docker_config:\n  stack: fromfile\n")
    environ = {"RCODER_STACK": "fromenv"}
    assert load_config({}, environ=environ, config_file=str(path)).engine_config.stack == "fromenv"
    flags = {"docker_config.stack": "fromflag"}
    assert load_config(flags, environ=environ, config_file=str(path)).engine_config.stack == "fromflag"


def test_both_names_may_give_a_key_only_with_one_value(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("docker_config:\n  stack: same\nengine_config:\n  stack: same\n  host_firewall: false\n")
    config = load_config({}, environ={}, config_file=str(path))
    assert (config.engine_config.stack, config.engine_config.host_firewall) == ("same", False)

    path.write_text("docker_config:\n  stack: old\nengine_config:\n  stack: new\n")
    with pytest.raises(
        ConfigError,
        match=rf"docker_config.stack and engine_config.stack are both given, with different values "
        rf"\(from config file {path}\); keep only engine_config.stack",
    ):
        load_config({}, environ={}, config_file=str(path))


def test_both_names_as_flags_with_different_values_are_refused():
    flags = {"engine_config.stack": "new", "docker_config.stack": "old"}
    with pytest.raises(ConfigError, match=r"engine_config.stack and docker_config.stack are both given"):
        load_config(flags, environ={})


def test_a_section_given_as_a_single_value_is_refused(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("docker_config: null\nengine_config:\n  stack: new\n")
    with pytest.raises(ConfigError, match=rf"engine_config must be a mapping \(from config file {path}\)"):
        load_config({}, environ={}, config_file=str(path))


def test_the_configuration_is_described_under_the_new_name():
    described = describe(load_config({"docker_config.stack": "oldflag"}, environ={}))
    assert described["engine_config"]["stack"] == "oldflag" and "docker_config" not in described


def test_a_bad_value_names_the_key_and_its_source():
    with pytest.raises(
        ConfigError, match=r"port must be an integer, got 'eighty' \(from environment variable RCODER_PORT\)"
    ):
        load_config({}, environ={"RCODER_PORT": "eighty"})


def test_a_missing_file_is_reported():
    with pytest.raises(ConfigError, match=r"cannot read config file /nonexistent\.yml"):
        load_config({}, environ={}, config_file="/nonexistent.yml")


def test_the_shipped_config_file_holds_exactly_the_defaults():
    shipped = Path(__file__).resolve().parents[3] / "config.yml"
    assert load_config({}, environ={}, config_file=str(shipped)) == Config()


def test_print_config_masks_secrets():
    config = load_config({}, environ={"RCODER_API_KEY": "sk-secret", "RCODER_API_KEY_ENABLED": "true"})
    described = describe(config)
    assert described["api_key_auth"] == {"enabled": True, "api_key": "***", "api_key_file": ""}
    assert "sk-secret" not in str(described)


def test_the_api_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "api_key"
    secret.write_text("sk-from-file\n")
    auth = load_config({"api_key_auth.api_key_file": str(secret), "api_key_auth.enabled": True}, environ={})
    assert read_api_key(auth.api_key_auth) == "sk-from-file"


def test_the_registry_account_comes_from_the_environment_its_password_also_from_a_file(tmp_path):
    secret = tmp_path / "registry_password"
    secret.write_text("pw-from-file\n")
    environ = {"RCODER_REGISTRY_USERNAME": "deploy", "RCODER_REGISTRY_PASSWORD_FILE": str(secret)}

    assert registry_login(load_config({}, environ=environ).engine_config) == ("deploy", "pw-from-file")
    assert registry_login(Config().engine_config) is None
    masked = describe(load_config({}, environ={"RCODER_REGISTRY_PASSWORD": "pw-inline"}))
    assert masked["engine_config"]["registry_password"] == "***"


def test_auth_enabled_without_a_key_stops_start_up():
    config = load_config({}, environ={"RCODER_API_KEY_ENABLED": "true"})
    with pytest.raises(ConfigError, match="no key is set"):
        read_api_key(config.api_key_auth)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RCODER_PORT": "70000"}, r"port must be between 1 and 65535, got 70000"),
        ({"RCODER_LOG_LEVEL": "LOUD"}, r"log_level must be DEBUG, INFO, WARNING or ERROR"),
        ({"RCODER_STACK": "Bad Stack"}, r"engine_config.stack must be a lowercase name"),
        ({"RCODER_API_KEY_ENABLED": "maybe"}, r"api_key_auth.enabled must be true or false"),
        ({"RCODER_EGRESS_POLICY": "some"}, r"egress.policy must be allow or allowlist or none"),
        (
            {"RCODER_EGRESS_ALLOW": "10.0.0.0/33"},
            r"egress.allow must be IPv4 networks, addresses or host names",
        ),
        ({"RCODER_EGRESS_ALLOW": "pypi.org, not_a name"}, r"egress.allow must be IPv4 networks"),
    ],
)
def test_out_of_range_values_are_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config({}, environ=environ)


def test_host_folders_take_an_absolute_projects_dir_and_mount_it_where_volumes_are():
    config = load_config({"projects_dir": "/srv/rcoder/"}, environ={"RCODER_WORKSPACES": "host"})
    assert config.host_workspaces == "/srv/rcoder"
    assert config.workspace_path == "/app/project_workspace", "the in-container mount does not move"
    assert Config().host_workspaces is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RCODER_WORKSPACES": "nfs"}, r"engine_config.workspaces must be volume or host, got 'nfs'"),
        (
            {"RCODER_WORKSPACES": "host"},
            r"projects_dir .* must be an absolute folder .* got './project_workspace'",
        ),
        ({"RCODER_WORKSPACES": "host", "RCODER_PROJECTS_DIR": "/"}, r"other than /, got '/'"),
        (
            {"RCODER_WORKSPACES": "host", "RCODER_PROJECTS_DIR": "/srv/rcoder", "RCODER_BACKEND": "swarm"},
            r"workspaces host works with the docker backend only",
        ),
    ],
)
def test_host_folders_that_cannot_work_are_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        load_config({}, environ=environ)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("templates:\n  Go Lang:\n    image: golang\n", "a template's name must be lowercase"),
        ("templates:\n  go:\n    description: no image\n", "templates.go.image is required"),
        (
            "engine_config:\n  backend: swarm\ntemplates:\n  go:\n    image: golang\n",
            "templates on a swarm are pushed to the registry the agent image comes from",
        ),
    ],
)
def test_a_template_needs_a_name_an_image_and_on_a_swarm_a_registry(tmp_path, text, words):
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config({}, environ={}, config_file=str(path))


@pytest.mark.parametrize(
    ("agent_image", "registry"),
    [
        ("rcoder/agent:dev", ""),
        ("10.0.0.5:5000/rcoder/agent:dev", "10.0.0.5:5000"),
        ("registry.example.com/rcoder/agent:1.2", "registry.example.com"),
        ("localhost/rcoder/agent", "localhost"),
        ("agent", ""),
    ],
)
def test_the_images_registry_is_the_agent_images_by_dockers_rule(agent_image, registry):
    assert EngineConfig(agent_image=agent_image).images_registry == registry


def test_templates_on_a_swarm_are_taken_with_a_registry(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(
        "engine_config:\n  backend: swarm\n  agent_image: 10.0.0.5:5000/rcoder/agent:dev\n"
        "templates:\n  go:\n    image: golang\n"
    )
    assert list(load_config({}, environ={}, config_file=str(path)).templates) == ["go"]


def test_a_template_is_read_with_its_limits_and_pool(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("templates:\n  go:\n    image: golang:1.23\n    pool_size: 2\n    cpu_limit: 1.5\n")
    [(name, template)] = load_config({}, environ={}, config_file=str(path)).templates.items()
    assert (name, template.image, template.pool_size, template.cpu_limit) == ("go", "golang:1.23", 2, 1.5)
