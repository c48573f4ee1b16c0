"""infra/ci_stack.py's own decisions (the Automation API calls themselves need the Pulumi CLI)."""

from __future__ import annotations

from infra.ci_stack import config_from_env, stack_name


def test_each_run_gets_its_own_stack():
    environ = {"GITHUB_RUN_ID": "4711"}

    first, second = stack_name(environ), stack_name(environ)

    assert first.startswith("ci-4711-") and second.startswith("ci-4711-") and first != second


def test_config_comes_from_the_environment_with_secrets_marked_and_an_api_key_always():
    environ = {
        "RCODER_PULUMI_PROXY_PORT": "9088",
        "RCODER_PULUMI_MODEL_PROVIDER_API_KEY": "sk-123",
        "RCODER_PULUMI_LOG_LEVEL": "",
        "UNRELATED": "x",
    }

    config = config_from_env(environ, "ci-1-abc")

    assert {k: (v.value, v.secret) for k, v in config.items() if k != "rcoder:apiKey"} == {
        "rcoder:proxyPort": ("9088", False),
        "rcoder:modelProviderApiKey": ("sk-123", True),
        "rcoder:stack": ("ci-1-abc", False),
    }
    assert config["rcoder:apiKey"].secret and len(config["rcoder:apiKey"].value) == 48
    given = config_from_env({"RCODER_PULUMI_API_KEY": "mine"}, "s")["rcoder:apiKey"]
    assert (given.value, given.secret) == ("mine", True)
