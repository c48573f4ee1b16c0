"""The agents a runner can start, by id."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from runner.errors import InvalidRequest

DEFAULT_AGENT_ID = "demo"


@dataclass(frozen=True)
class AgentSpec:
    """How to start an ACP agent as a stdio subprocess."""

    id: str
    command: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


BUILTIN_AGENTS = {
    "demo": AgentSpec("demo", sys.executable, ("-m", "runner.demo_agent")),
}


def resolve_agent(agent_id: str | None, default_id: str = DEFAULT_AGENT_ID) -> AgentSpec:
    wanted = agent_id or default_id
    try:
        return BUILTIN_AGENTS[wanted]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_AGENTS))
        raise InvalidRequest(f"unknown agent {wanted!r}; this runner has: {known}") from None
