"""appliance/containers/template.py: what agent and desktop containers are made of."""

from __future__ import annotations

from appliance.config_loader import load_config
from appliance.containers.template import AGENT_TMPFS, DESKTOP_TMPFS, Template


def test_a_spec_adds_its_own_environment_and_bounds_its_volume_only_when_asked():
    config = load_config({"otlp_endpoint": "http://otel:4317"}, environ={})
    agent, desktop = Template.agent(config), Template.desktop(config)

    unsized = agent.spec("a", {}, "v", {}, environment={"RCODER_PRESTART_AGENT": "{}"})
    sized = desktop.spec("d", {}, "h", {}, volume_bytes=2**30, environment={"USER_ID": "ann"})

    assert list(unsized.environment) == [
        "RCODER_DEFAULT_AGENT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "RCODER_PRESTART_AGENT",
    ]
    assert (unsized.tmpfs, unsized.mount_path, unsized.shm_bytes) == (
        AGENT_TMPFS,
        config.workspace_path,
        None,
    )
    assert (unsized.volume_driver, unsized.volume_bytes) == ("local", None)
    assert (sized.tmpfs, sized.mount_path, sized.environment["USER_ID"]) == (
        DESKTOP_TMPFS,
        "/home/agent",
        "ann",
    )
    assert (sized.volume_driver, sized.volume_bytes) == (config.engine_config.workspace_volume_driver, 2**30)
    assert (sized.memory_bytes, sized.cpus) == (unsized.memory_bytes, unsized.cpus), "the same default limits"
    assert "USER_ID" not in desktop.environment, "the template is not changed by a spec"
