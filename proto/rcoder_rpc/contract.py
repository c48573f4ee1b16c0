"""What the gateway and the runners both rely on beside agent.proto's messages: the runner's port,
the kinds of event that frame a turn, the shape of ids, permission policies and kinds of agent."""

from __future__ import annotations

from typing import Literal, get_args

RUNNER_PORT = 50051
# The runner's health service name that turns SERVING once the agent it starts at boot (for the first
# chat) is up, or NOT_SERVING if that agent failed; unknown while it starts.
PRESTARTED_SERVICE = "rcoder.prestarted-agent"

# ProgressEvent.message_type of a turn's first and last (terminal) events; updates come between.
PROMPT_START = "SessionPromptStart"
PROMPT_END = "SessionPromptEnd"
SESSION_UPDATE = "AgentSessionUpdate"

# A project or user id: safe inside a container or volume name (Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]).
ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
# A session id comes from the agent (UUIDs and the like).
SESSION_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"

# How an agent's permission requests are answered: allow, deny, or ask the client.
PermissionPolicy = Literal["allow", "deny", "ask"]
PERMISSION_POLICIES: tuple[str, ...] = get_args(PermissionPolicy)

# How a model provider reaches an agent: Anthropic variables, an OpenAI Responses provider in
# Codex's configuration, or not at all.
AgentKind = Literal["plain", "claude-code", "codex"]
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)

DEFAULT_AGENT_ID = "demo"
