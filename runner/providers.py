"""How a request's model provider reaches each kind of agent: the variables and flags it reads.

- claude-code: the Claude Code CLI inside the adapter reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY;
  the model must be set as the default Sonnet/Haiku/Opus model too, as ANTHROPIC_MODEL alone does
  not reach the wire.
- codex: a custom provider in Codex's configuration (`-c` flags) speaking the Responses API, with
  the key in OPENAI_API_KEY.
- plain: nothing.

Every agent gets a HOME (and Codex a CODEX_HOME) of its own, kept apart from other projects.
"""

from __future__ import annotations

import json
from pathlib import Path

from rcoder_rpc import agent_pb2
from rcoder_wire.contract import CLAUDE_CODE, CODEX
from runner.agents import AgentSpec

CLAUDE_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}
CODEX_PROVIDER = "rcoder"


def launch(spec: AgentSpec, provider: agent_pb2.ModelProviderConfig | None, home: Path) -> AgentSpec:
    """`spec` with the environment and arguments that point it at `provider`, and its own HOME."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**spec.env, "HOME": str(home)}
    args = list(spec.args)
    if spec.kind == CLAUDE_CODE:
        env.update(CLAUDE_QUIET)
        if provider is not None:
            env.update(_anthropic(provider))
    elif spec.kind == CODEX:
        codex_home = home / ".codex"
        codex_home.mkdir(exist_ok=True)
        env["CODEX_HOME"] = str(codex_home)
        if provider is not None:
            if provider.HasField("api_key"):
                env["OPENAI_API_KEY"] = provider.api_key
            args += _codex_flags(provider)
    return AgentSpec(spec.id, spec.command, tuple(args), env, spec.kind)


def _anthropic(provider: agent_pb2.ModelProviderConfig) -> dict[str, str]:
    env = {}
    if provider.HasField("api_base") and provider.api_base:
        env["ANTHROPIC_BASE_URL"] = provider.api_base
    if provider.HasField("api_key") and provider.api_key:
        env["ANTHROPIC_API_KEY"] = provider.api_key
    if provider.model:
        for name in (
            "ANTHROPIC_MODEL",
            "ANTHROPIC_DEFAULT_SONNET_MODEL",
            "ANTHROPIC_DEFAULT_HAIKU_MODEL",
            "ANTHROPIC_DEFAULT_OPUS_MODEL",
        ):
            env[name] = provider.model
    return env


def _codex_flags(provider: agent_pb2.ModelProviderConfig) -> list[str]:
    """Codex `-c key=value` flags (values in TOML) for a custom Responses-API provider."""
    settings = {
        "model_provider": CODEX_PROVIDER,
        f"model_providers.{CODEX_PROVIDER}.name": provider.provider or provider.id or "RCoder",
        f"model_providers.{CODEX_PROVIDER}.env_key": "OPENAI_API_KEY",
        f"model_providers.{CODEX_PROVIDER}.wire_api": "responses",
    }
    if provider.HasField("api_base") and provider.api_base:
        settings[f"model_providers.{CODEX_PROVIDER}.base_url"] = provider.api_base
    if provider.model:
        settings["model"] = provider.model
    flags = []
    for key, value in settings.items():
        flags += ["-c", f"{key}={json.dumps(value)}"]  # a JSON string is a valid TOML string
    return flags
