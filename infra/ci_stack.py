"""A throwaway stack for one CI run, through Pulumi's Automation API: a unique stack on a local file
backend, its config from the environment, `up`, the smoke test against its outputs, and then
always `destroy` and `stack rm`, also when the smoke test fails or the job is interrupted.

Needs the Pulumi CLI and the docker provider plugin: scripts/ci-stack uses scripts/pulumi-toolchain's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import docker
from pulumi import automation as auto

from appliance import labels
from infra import smoke, teardown

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "RCODER_PULUMI_"
GATEWAY_LOG_LINES = 40
# Environment variable (after RCODER_PULUMI_) → (config key, whether it is a secret).
CONFIG_FROM_ENV = {
    "PORT": ("port", False),
    "PROXY_PORT": ("proxyPort", False),
    "PROXY_CONTROL_PORT": ("proxyControlPort", False),
    "MODEL_PORT": ("modelPort", False),
    "BIND": ("bind", False),
    "IMAGE_TAG": ("imageTag", False),
    "REGISTRY": ("registry", False),
    "REGISTRY_USERNAME": ("registryUsername", False),
    "REGISTRY_PASSWORD": ("registryPassword", True),
    "API_KEY": ("apiKey", True),
    "PROXY_TOKEN_SECRET": ("proxyTokenSecret", True),
    "MODEL_PROVIDER_ID": ("modelProviderId", False),
    "MODEL_PROVIDER_BASE_URL": ("modelProviderBaseUrl", False),
    "MODEL_PROVIDER_MODEL": ("modelProviderModel", False),
    "MODEL_PROVIDER_PROTOCOL": ("modelProviderProtocol", False),
    "MODEL_PROVIDER_API_KEY": ("modelProviderApiKey", True),
    "ALLOWED_PORTS": ("allowedPorts", False),
    "HOST_OPEN_PORTS": ("hostOpenPorts", False),
    "WORKSPACE_SIZE_BYTES": ("workspaceSizeBytes", False),
    "WORKSPACE_VOLUME_DRIVER": ("workspaceVolumeDriver", False),
    "WORKSPACES": ("workspaces", False),
    "PROJECTS_DIR": ("projectsDir", False),
    "IDLE_TIMEOUT_SECONDS": ("idleTimeoutSeconds", False),
    "CLEANUP_INTERVAL_SECONDS": ("cleanupIntervalSeconds", False),
    "CONTAINER_PROTECTION_SECONDS": ("containerProtectionSeconds", False),
    "PAUSE_IDLE": ("pauseIdle", False),
    "PAUSED_KEEP_SECONDS": ("pausedKeepSeconds", False),
    "WARM_POOL_SIZE": ("warmPoolSize", False),
    "MAX_CONTAINERS": ("maxContainers", False),
    "CHATS_PER_MINUTE": ("chatsPerMinute", False),
    "STARTS_PER_MINUTE": ("startsPerMinute", False),
    "EGRESS_POLICY": ("egressPolicy", False),
    "EGRESS_ALLOW": ("egressAllow", False),
    "EGRESS_REFRESH_SECONDS": ("egressRefreshSeconds", False),
    "LOG_LEVEL": ("logLevel", False),
    "OTLP_ENDPOINT": ("otlpEndpoint", False),
    "PYROSCOPE_ENDPOINT": ("pyroscopeEndpoint", False),
    "DOCKER_HOST": ("dockerHost", False),
}


def stack_name(environ: Mapping[str, str]) -> str:
    """Unique per run: the CI system's run id when it has one, and random bits in any case."""
    run = environ.get("GITHUB_RUN_ID") or environ.get("CI_JOB_ID") or environ.get("BUILD_ID") or "local"
    return f"ci-{run}-{uuid.uuid4().hex[:6]}".lower()


def config_from_env(environ: Mapping[str, str], stack: str) -> dict[str, auto.ConfigValue]:
    """The stack's config: RCODER_PULUMI_* variables, an API key made up when none is given."""
    config = {
        f"rcoder:{key}": auto.ConfigValue(value=environ[PREFIX + name], secret=secret)
        for name, (key, secret) in CONFIG_FROM_ENV.items()
        if environ.get(PREFIX + name)
    }
    config["rcoder:stack"] = auto.ConfigValue(value=stack)
    config.setdefault("rcoder:apiKey", auto.ConfigValue(value=secrets.token_hex(24), secret=True))
    return config


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def show_gateway_logs(engine: docker.DockerClient, stack: str) -> None:
    """The last lines of the stack's gateway (a gateway that never became healthy says why there)."""
    selector = labels.selector(labels.labels_for(stack, "gateway"))
    for container in teardown.listed_containers(engine, {"label": selector}):
        tail = container.logs(tail=GATEWAY_LOG_LINES).decode(errors="replace")
        print(f"==> The gateway {container.name} ({container.status}), its last lines:\n{tail}")


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupted)  # a cancelled CI job still tears its stack down
    name = stack_name(os.environ)
    throwaway = None if os.environ.get("PULUMI_BACKEND_URL") else tempfile.mkdtemp(prefix="rcoder-pulumi-")
    backend = os.environ.get("PULUMI_BACKEND_URL") or f"file://{throwaway}"
    env_vars = {
        "PULUMI_BACKEND_URL": backend,
        # The stack lives for one run: a passphrase of its own encrypts its secrets.
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE") or secrets.token_hex(16),
    }
    config = config_from_env(os.environ, name)
    print(f"==> Stack {name} on {backend}")
    stack = auto.create_stack(name, work_dir=str(ROOT), opts=auto.LocalWorkspaceOptions(env_vars=env_vars))
    engine = docker.DockerClient(base_url=os.environ.get(PREFIX + "DOCKER_HOST") or None)
    try:
        stack.set_all_config(config)
        print("==> pulumi up")
        try:
            outputs = stack.up(on_output=print, color="never").outputs
        except auto.CommandError:
            show_gateway_logs(engine, name)
            raise
        print("==> Smoke test against", outputs["url"].value)
        smoke.check(outputs["url"].value, config["rcoder:apiKey"].value)
        return 0
    finally:
        print("==> Tearing the stack down")
        removed = teardown.remove_runtime_containers(engine, name)
        print(f"    removed the gateway's containers: {removed or 'none'}")
        stack.destroy(on_output=print, color="never")
        print(f"    removed what destroy leaves: {teardown.remove_leftovers(engine, name) or 'nothing'}")
        stack.workspace.remove_stack(name)
        if throwaway:
            shutil.rmtree(throwaway)
        print(f"==> Stack {name} removed")


if __name__ == "__main__":
    sys.exit(main())
