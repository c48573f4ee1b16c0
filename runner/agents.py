"""The agents a runner can start: those a request describes (the gateway resolves its registry into
agent_server), or the built-in demo agent."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rcoder_rpc import agent_pb2
from rcoder_rpc.contract import DEFAULT_AGENT_ID
from rcoder_wire.contract import AGENT_KINDS, PLAIN
from runner.errors import InvalidRequest


@dataclass(frozen=True)
class AgentSpec:
    """How to start an ACP agent as a stdio subprocess."""

    id: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # How a model provider reaches it (see runner/providers.py).
    kind: str = PLAIN


BUILTIN_AGENTS = {
    "demo": AgentSpec("demo", sys.executable, ("-m", "runner.demo_agent")),
}


def resolve_agent(
    server: agent_pb2.ChatAgentServerConfig | None, default_id: str = DEFAULT_AGENT_ID
) -> AgentSpec:
    """The agent a request's agent_server describes: a command of its own, or a built-in by id."""
    if server is not None and server.HasField("command") and server.command:
        kind = server.metadata.get("kind", PLAIN)
        if kind not in AGENT_KINDS:
            raise InvalidRequest(f"agent kind must be one of {', '.join(AGENT_KINDS)}, not {kind!r}")
        agent_id = server.agent_id if server.HasField("agent_id") else "custom"
        return AgentSpec(agent_id, server.command, tuple(server.args), dict(server.env), kind)
    wanted = (server.agent_id if server is not None and server.HasField("agent_id") else "") or default_id
    try:
        return BUILTIN_AGENTS[wanted]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_AGENTS))
        raise InvalidRequest(
            f"unknown agent {wanted!r}; without a command this runner knows: {known}"
        ) from None
