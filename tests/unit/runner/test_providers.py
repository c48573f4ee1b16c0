"""runner/providers.py and the agent process's life: what each kind of agent is given, and when it restarts."""

from __future__ import annotations

from rcoder_rpc import agent_pb2
from rcoder_wire.contract import CLAUDE_CODE, CODEX
from runner.agents import AgentSpec
from runner.providers import launch
from tests.unit.runner.conftest import collect

ANTHROPIC = agent_pb2.ModelProviderConfig(
    id="p1", model="claude-x", api_key="sk-a", api_base="http://models:8000", api_protocol="anthropic"
)
OPENAI = agent_pb2.ModelProviderConfig(
    id="p2", provider="Acme", model="gpt-x", api_key="sk-o", api_base="http://models/v1"
)


def test_claude_code_reads_anthropic_variables_and_the_model_as_every_default(tmp_path):
    spec = launch(AgentSpec("claude-code", "claude-agent-acp", kind=CLAUDE_CODE), ANTHROPIC, tmp_path / "h")
    env = spec.env
    assert (env["ANTHROPIC_BASE_URL"], env["ANTHROPIC_API_KEY"]) == ("http://models:8000", "sk-a")
    assert (
        env["ANTHROPIC_MODEL"]
        == env["ANTHROPIC_DEFAULT_SONNET_MODEL"]
        == env["ANTHROPIC_DEFAULT_HAIKU_MODEL"]
        == "claude-x"
    )
    assert env["HOME"] == str(tmp_path / "h") and (tmp_path / "h").is_dir()
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"


def test_codex_gets_a_responses_provider_in_its_config_and_the_key_in_its_environment(tmp_path):
    spec = launch(AgentSpec("codex", "codex-acp", kind=CODEX), OPENAI, tmp_path / "h")
    assert spec.args[0::2] == ("-c",) * (len(spec.args) // 2)
    settings = dict(arg.split("=", 1) for arg in spec.args[1::2])
    assert settings["model"] == '"gpt-x"' and settings["model_provider"] == '"rcoder"'
    assert settings["model_providers.rcoder.base_url"] == '"http://models/v1"'
    assert settings["model_providers.rcoder.wire_api"] == '"responses"'
    assert spec.env["OPENAI_API_KEY"] == "sk-o" and "sk-o" not in " ".join(spec.args)
    assert (tmp_path / "h" / ".codex").is_dir()


def test_a_plain_agent_gets_nothing_but_its_home(tmp_path):
    spec = launch(AgentSpec("demo", "rcoder-demo-agent"), ANTHROPIC, tmp_path / "h")
    assert spec.env == {"HOME": str(tmp_path / "h")} and spec.args == ()


async def test_a_new_provider_id_restarts_the_agent_process(runner):
    stub, _, _ = runner

    async def turn(session_id: str, provider_id: str) -> agent_pb2.ChatResponse:
        provider = agent_pb2.ModelProviderConfig(id=provider_id)
        reply = await stub.Chat(
            agent_pb2.ChatRequest(project_id="p1", session_id=session_id, prompt="hi", model_config=provider)
        )
        await collect(stub, reply.session_id)
        return reply

    first = await turn("", "a")
    same = await turn(first.session_id, "a")
    other = await turn(first.session_id, "b")

    assert same.session_id == first.session_id and same.session_resumed is True
    assert other.session_id != first.session_id and other.session_resumed is False
