"""The Pulumi program (infra/) under Pulumi's mocks: every resource, its key inputs, its secrets,
its dependencies and the stack's outputs, and how the stack's config changes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.images import context_digest
from tests.pulumi_graph import Graph, Resource, run_program

ROOT = Path(__file__).resolve().parents[3]
CONTAINER = "docker:index/container:Container"
IMAGE = "docker:index/remoteImage:RemoteImage"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
PROVIDER = "pulumi:providers:docker"
SECRETS = {
    "apiKey": "key-0f1e2d3c",
    "modelProviderApiKey": "sk-model-4b5a69",
    "proxyTokenSecret": "token-secret-8877",
    "gitCredentials": '{"github.com": {"token": "ghp-secret-4242"}}',
}


@pytest.fixture(scope="module")
def graph() -> Graph:
    return run_program({"stack": "prod", **SECRETS}, tuple(SECRETS))


def envs(resource: Resource) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in resource.inputs["envs"])


def plain_values(value, path: str, secrets: set[str]):
    """Every (path, value) of an input tree outside the secret paths."""
    if path in secrets:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from plain_values(item, f"{path}.{key}" if path else key, secrets)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from plain_values(item, f"{path}.{index}", secrets)
    else:
        yield path, value


def test_the_program_declares_every_resource_of_the_appliance(graph):
    declared = sorted((r.type, r.name) for r in graph.resources)

    assert declared == sorted(
        [
            (PROVIDER, "docker-host"),
            ("rcoder:appliance:Appliance", "rcoder"),
            ("rcoder:appliance:Networks", "rcoder-networks"),
            (NETWORK, "rcoder-networks-agents"),
            (NETWORK, "rcoder-networks-desktops"),
            ("rcoder:appliance:Volumes", "rcoder-volumes"),
            (VOLUME, "rcoder-volumes-state"),
            ("rcoder:appliance:Images", "rcoder-images"),
            *[
                (IMAGE, f"rcoder-images-{image}")
                for image in ("base", "agent-tools", "agent", "gateway", "proxy", "desktop", "runner-bundle")
            ],
            ("rcoder:appliance:Gateway", "rcoder-gateway"),
            (CONTAINER, "rcoder-gateway"),
            ("rcoder:appliance:Proxy", "rcoder-proxy"),
            (CONTAINER, "rcoder-proxy"),
        ]
    )
    [provider] = graph.of_type(PROVIDER)
    docker_resources = [r for r in graph.resources if r.type.startswith("docker:")]
    assert all(r.provider.startswith(provider.urn) for r in docker_resources), (
        "all on the stack's Docker host"
    )


def test_networks_stop_traffic_between_containers_and_are_labelled(graph):
    for network in graph.of_type(NETWORK):
        assert network.inputs["options"] == {"com.docker.network.bridge.enable_icc": "false"}
        assert network.inputs["driver"] == "bridge"
        assert {"label": "rcoder.stack", "value": "prod"} in network.inputs["labels"]
    assert {n.inputs["name"] for n in graph.of_type(NETWORK)} == {
        "rcoder-prod-agents",
        "rcoder-prod-desktops",
    }
    assert graph.named("rcoder-volumes-state").inputs["name"] == "rcoder-prod-state"


def test_images_are_built_from_the_repository_in_order_and_kept(graph):
    images = {r.name.removeprefix("rcoder-images-"): r for r in graph.of_type(IMAGE)}

    for name, image in images.items():
        build = image.inputs["build"]
        assert image.inputs["name"] == f"rcoder/{name}:dev" and image.inputs["keepLocally"] is True
        folder = name.removesuffix("-tools")  # agent-tools: the agent Dockerfile's first stage
        assert build["context"] == str(ROOT) and build["dockerfile"] == f"images/{folder}/Dockerfile"
        assert build["useLegacyBuilder"] is True, "scripts/build-images' builder, so its layer cache"
        assert image.inputs["triggers"] == {"context": context_digest(ROOT)}
    assert images["agent"].inputs["build"]["buildArgs"] == {"BASE_IMAGE": "rcoder/base:dev"}
    assert images["agent-tools"].inputs["build"]["target"] == "tools"
    assert images["agent-tools"].inputs["build"]["dockerfile"] == "images/agent/Dockerfile"
    assert images["desktop"].inputs["build"]["buildArgs"] == {"AGENT_TOOLS_IMAGE": "rcoder/agent-tools:dev"}
    assert graph.depends_on(images["desktop"], images["base"])
    assert images["runner-bundle"].inputs["build"]["buildArgs"] == {"AGENT_IMAGE": "rcoder/agent:dev"}


def test_the_gateway_runs_with_the_socket_its_state_a_healthcheck_and_least_privilege(graph):
    gateway = graph.container("rcoder-gateway")
    inputs = gateway.inputs

    assert inputs["name"] == "rcoder-prod-gateway" and inputs["image"] == "rcoder/gateway:dev"
    assert inputs["networkMode"] == "host" and inputs["restart"] == "unless-stopped"
    assert {"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"} in inputs["volumes"]
    assert {"volumeName": "rcoder-prod-state", "containerPath": "/var/lib/rcoder"} in inputs["volumes"]
    assert inputs["healthcheck"]["tests"] == ["CMD", "rcoder-healthcheck"]
    assert inputs["wait"] is True, "up waits for the gateway to be healthy"
    assert inputs["capabilities"] == {"drops": ["ALL"], "adds": ["NET_ADMIN"]}, "NET_ADMIN: the firewall"
    assert inputs["securityOpts"] == ["no-new-privileges:true"]
    variables = envs(gateway)
    assert variables["RCODER_HOST"] == "127.0.0.1", "the gateway listens on loopback only"
    assert variables["RCODER_AGENT_IMAGE"] == "rcoder/agent:dev"
    assert variables["RCODER_DESKTOP_IMAGE"] == "rcoder/desktop:dev"
    assert variables["RCODER_RUNNER_BUNDLE_IMAGE"] == "rcoder/runner-bundle:dev"
    assert variables["RCODER_NETWORK_BASE_NAME"] == "rcoder-prod-agents"
    assert variables["RCODER_DESKTOP_NETWORK"] == "rcoder-prod-desktops"
    assert variables["RCODER_API_KEY_ENABLED"] == "true"
    for name in ("agent", "desktop", "gateway", "runner-bundle"):
        assert graph.depends_on(gateway, graph.named(f"rcoder-images-{name}"))


def test_secrets_reach_the_gateway_only_as_secret_files(graph):
    gateway = graph.container("rcoder-gateway")
    uploads = {u["file"]: u for u in gateway.inputs["uploads"]}
    variables = envs(gateway)

    assert "uploads" in gateway.secrets
    for container in graph.of_type(CONTAINER):
        assert not any(s in e for s in SECRETS.values() for e in container.inputs["envs"]), "a secret in env"
        assert not any(path.startswith("envs") for path in container.secrets), (
            "the environment holds a secret"
        )
    for variable, (file, secret) in {
        "RCODER_API_KEY_FILE": ("api_key", SECRETS["apiKey"]),
        "RCODER_MODEL_PROVIDER_API_KEY_FILE": ("model_provider_api_key", SECRETS["modelProviderApiKey"]),
        "RCODER_PROXY_TOKEN_SECRET_FILE": ("proxy_token_secret", SECRETS["proxyTokenSecret"]),
    }.items():
        path = f"/run/secrets/rcoder/{file}"
        assert variables[variable] == path
        assert uploads[path]["content"] == secret and uploads[path]["permissions"] == "0400"
    git = "/run/secrets/rcoder/git.json"
    assert variables["RCODER_CONFIG"] == git and uploads[git]["permissions"] == "0400"
    assert json.loads(uploads[git]["content"]) == {
        "git_credentials": {"github.com": {"token": "ghp-secret-4242"}}
    }
    for resource in graph.resources:
        for path, value in plain_values(resource.inputs, "", resource.secrets):
            leaked = [name for name, secret in SECRETS.items() if isinstance(value, str) and secret in value]
            leaked += ["gitCredentials"] if isinstance(value, str) and "ghp-secret-4242" in value else []
            assert not leaked, f"{resource.name}.{path} carries {leaked} in plain text"
    assert not any(secret in str(graph.outputs) for secret in SECRETS.values())
    assert "ghp-secret-4242" not in str(graph.outputs)


def test_the_proxy_starts_after_the_gateway_on_the_configured_ports(graph):
    proxy = graph.container("rcoder-proxy")
    gateway = graph.container("rcoder-gateway")

    assert gateway.urn in proxy.dependencies, "the proxy waits for the (healthy) gateway"
    assert proxy.inputs["image"] == "rcoder/proxy:dev" and proxy.inputs["networkMode"] == "host"
    assert envs(proxy) == {
        "RCODER_GATEWAY": "127.0.0.1:8087",
        "RCODER_PROXY_PORT": "127.0.0.1:8088",
        "RCODER_PROXY_CONTROL_PORT": "8089",
        "RCODER_MODEL_PORT": "8090",
    }
    assert envs(gateway)["RCODER_PROXY_CONTROL_PORT"] == "8089", (
        "the gateway empties the proxy's routes there"
    )
    assert envs(gateway)["RCODER_MODEL_PORT"] == "8090", "it hands agents stand-ins for that port"
    assert envs(gateway)["RCODER_PORT"] == "8087" and envs(gateway)["RCODER_PROXY_PORT"] == "8088"


def test_the_stack_outputs_name_the_url_docs_and_what_was_created(graph):
    assert graph.exports == {
        "url": "http://127.0.0.1:8088",
        "docs_url": "http://127.0.0.1:8088/api/docs",
        "gateway_container": "rcoder-prod-gateway",
        "proxy_container": "rcoder-prod-proxy",
        "networks": ["rcoder-prod-agents", "rcoder-prod-desktops"],
        "state_volume": "rcoder-prod-state",
        "images": {name: f"rcoder/{name}:dev" for name in ("agent", "gateway", "proxy", "desktop")},
    }


def test_ports_change_only_through_the_config():
    graph = run_program(
        {
            "port": "9101",
            "proxyPort": "9102",
            "proxyControlPort": "9103",
            "modelPort": "9104",
            "bind": "0.0.0.0",
        }
    )
    proxy = graph.container("rcoder-proxy")
    gateway = graph.container("rcoder-gateway")

    assert envs(proxy) == {
        "RCODER_GATEWAY": "127.0.0.1:9101",
        "RCODER_PROXY_PORT": "0.0.0.0:9102",
        "RCODER_PROXY_CONTROL_PORT": "9103",
        "RCODER_MODEL_PORT": "9104",
    }
    assert envs(gateway)["RCODER_PORT"] == "9101" and envs(gateway)["RCODER_PROXY_PORT"] == "9102"
    assert graph.exports["url"] == "http://127.0.0.1:9102"
    assert envs(gateway)["RCODER_API_KEY_ENABLED"] == "false" and not gateway.inputs.get("uploads")


def test_a_remote_docker_host_gets_everything_and_names_the_url():
    graph = run_program(
        {
            "dockerHost": "ssh://deploy@docker-1.example.com",
            "dockerSshOpts": '["-p", "2222"]',
            "bind": "0.0.0.0",
        }
    )
    [provider] = graph.of_type(PROVIDER)

    assert provider.inputs["host"] == "ssh://deploy@docker-1.example.com"
    assert json.loads(provider.inputs["sshOpts"]) == ["-p", "2222"]  # a provider's lists arrive as JSON
    assert all(r.provider.startswith(provider.urn) for r in graph.resources if r.type.startswith("docker:"))
    assert graph.exports["url"] == "http://docker-1.example.com:8088"


def test_a_registry_replaces_the_builds_and_its_password_is_secret():
    graph = run_program(
        {
            "registry": "registry.example.com/team/",
            "imageTag": "1.4.0",
            "registryUsername": "deploy",
            "registryPassword": "hunter2-registry",
        },
        ("registryPassword",),
    )
    images = {r.name.removeprefix("rcoder-images-"): r for r in graph.of_type(IMAGE)}
    [provider] = graph.of_type(PROVIDER)
    gateway = graph.container("rcoder-gateway")

    assert set(images) == {"agent", "gateway", "proxy", "desktop", "runner-bundle"}, "nothing is built"
    for name, image in images.items():
        assert (
            image.inputs["name"] == f"registry.example.com/team/rcoder/{name}:1.4.0"
            and "build" not in image.inputs
        )
    assert json.loads(provider.inputs["registryAuth"]) == [
        {"address": "registry.example.com", "username": "deploy", "password": "hunter2-registry"}
    ]
    assert "registryAuth" in provider.secrets
    assert envs(gateway)["RCODER_AGENT_IMAGE"] == "registry.example.com/team/rcoder/agent:1.4.0"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"port": "8088"}, "must differ"),
        ({"proxyPort": "70000"}, "rcoder:proxyPort"),
        ({"dockerHost": "http://docker-1"}, "rcoder:dockerHost"),
        ({"registryPassword": "x"}, "rcoder:registry"),
        ({"backend": "kubernetes"}, "rcoder:backend"),
    ],
)
def test_config_that_cannot_work_is_refused_naming_the_key(config, message):
    with pytest.raises(Exception, match=message):
        run_program(config)


def test_make_up_and_the_program_give_the_gateway_the_same_settings(graph):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    gateway = graph.container("rcoder-gateway")
    program = set(envs(gateway))

    quickstart = set(compose["services"]["gateway"]["environment"])
    # make up passes the keys in the environment (a local quickstart); the program as secret files.
    assert quickstart - {"RCODER_API_KEY", "RCODER_MODEL_PROVIDER_API_KEY"} <= program
    assert program - quickstart <= {
        "RCODER_API_KEY_FILE",
        "RCODER_MODEL_PROVIDER_API_KEY_FILE",
        "RCODER_PROXY_TOKEN_SECRET_FILE",
        "RCODER_CONFIG",  # the git broker's logins (a config file; make up's operator writes their own)
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "RCODER_MODEL_PROVIDER_ID",
        "RCODER_MODEL_PROVIDER_BASE_URL",
        "RCODER_MODEL_PROVIDER_MODEL",
        "RCODER_MODEL_PROVIDER_PROTOCOL",
    }
    assert compose["services"]["proxy"]["network_mode"] == "host" == gateway.inputs["networkMode"]


SWARM = {"backend": "swarm", "swarmConstraints": "node.labels.rcoder.agents==true"}


@pytest.fixture(scope="module")
def swarm_graph() -> Graph:
    return run_program({"stack": "prod", **SWARM, **SECRETS}, tuple(SECRETS))


def test_on_a_swarm_the_gateway_and_proxy_share_a_bridge_and_run_workloads_as_services(swarm_graph):
    gateway, proxy = swarm_graph.container("rcoder-gateway"), swarm_graph.container("rcoder-proxy")
    [front] = swarm_graph.of_type(NETWORK)
    variables = envs(gateway)

    assert front.inputs["name"] == "rcoder-prod-front" and not front.inputs.get("options")
    assert swarm_graph.exports["networks"] == ["rcoder-prod-front"]
    assert swarm_graph.depends_on(gateway, front) and swarm_graph.depends_on(proxy, gateway)
    for container in (gateway, proxy):
        assert container.inputs["networkMode"] == "rcoder-prod-front"
    assert gateway.inputs["ports"] == [{"internal": 8087, "external": 8087, "ip": "127.0.0.1"}]
    assert proxy.inputs["ports"] == [{"internal": 8088, "external": 8088, "ip": "127.0.0.1"}]
    assert "NET_ADMIN" not in gateway.inputs["capabilities"].get("adds", []), "no host firewall to install"
    assert variables["RCODER_BACKEND"] == "swarm"
    assert variables["RCODER_HOST"] == "rcoder-prod-gateway.rcoder-prod-front", "its bridge address only"
    assert variables["RCODER_SWARM_ATTACH"] == "rcoder-prod-gateway,rcoder-prod-proxy"
    assert variables["RCODER_SWARM_CONSTRAINTS"] == "node.labels.rcoder.agents==true"
    assert variables["RCODER_PROXY_CONTROL_HOST"] == "rcoder-prod-proxy.rcoder-prod-front"
    assert envs(proxy)["RCODER_GATEWAY"] == "rcoder-prod-gateway.rcoder-prod-front:8087"
    assert envs(proxy)["RCODER_PROXY_PORT"] == "rcoder-prod-proxy.rcoder-prod-front:8088"


def test_make_up_on_a_swarm_and_the_program_give_the_same_swarm_settings(swarm_graph):
    compose = yaml.safe_load((ROOT / "docker-compose.swarm.yml").read_text())
    stack = {
        "${RCODER_STACK:-default}": "prod",
        "${RCODER_PORT:-8087}": "8087",
        "${RCODER_PROXY_PORT:-8088}": "8088",
    }

    def resolved(value: str) -> str:
        for variable, setting in stack.items():
            value = value.replace(variable, setting)
        return value

    for role in ("gateway", "proxy"):
        program = envs(swarm_graph.container(f"rcoder-{role}"))
        quickstart = compose["services"][role]["environment"]
        # The layout is fixed; what the operator passes through (`KEY: ${KEY:-…}`) is theirs.
        fixed = {k: resolved(v) for k, v in quickstart.items() if not v.startswith(f"${{{k}:-")}
        assert {k: program[k] for k in fixed} == fixed, role


def test_on_a_swarm_the_nodes_pull_from_the_registry_with_its_account():
    registry = {"registry": "10.0.0.2:5000", "registryUsername": "deploy", "registryPassword": "pw-9"}
    graph = run_program({**SWARM, **registry}, ("registryPassword",))
    gateway = graph.container("rcoder-gateway")
    variables = envs(gateway)
    uploads = {u["file"]: u for u in gateway.inputs["uploads"]}

    assert variables["RCODER_AGENT_IMAGE"] == "10.0.0.2:5000/rcoder/agent:dev"
    assert variables["RCODER_DESKTOP_IMAGE"] == "10.0.0.2:5000/rcoder/desktop:dev"
    assert variables["RCODER_REGISTRY_USERNAME"] == "deploy"
    assert uploads[variables["RCODER_REGISTRY_PASSWORD_FILE"]]["content"] == "pw-9"
    assert "uploads" in gateway.secrets and "RCODER_REGISTRY_PASSWORD" not in variables


def test_a_source_change_changes_the_images_trigger(tmp_path):
    for entry in ("appliance", "images/base"):
        (tmp_path / entry).mkdir(parents=True)
    (tmp_path / "appliance" / "app.py").write_text("v1")
    before = context_digest(tmp_path)
    (tmp_path / "appliance" / "app.py").write_text("v2")

    assert context_digest(tmp_path) != before


def test_cleanup_settings_reach_the_gateway_zero_included():
    graph = run_program(
        {"idleTimeoutSeconds": "90", "containerProtectionSeconds": "0", "otlpEndpoint": "http://otel:4317"}
    )
    variables = envs(graph.container("rcoder-gateway"))

    assert variables["RCODER_IDLE_TIMEOUT_SECONDS"] == "90"
    assert variables["RCODER_CONTAINER_PROTECTION_SECONDS"] == "0", "0 means no protection, not the default"
    assert variables["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4317"
