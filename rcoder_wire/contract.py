"""What the HTTP API promises both its sides: the shape of ids, permission policies, kinds of agent
and the seed's bounds on one container's resources."""

from __future__ import annotations

from typing import Final, Literal, get_args

# A project or user id: safe inside a container or volume name (Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]).
ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
# A session id comes from the agent (UUIDs and the like).
SESSION_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"

# How an agent's permission requests are answered: allow, deny, or ask the client.
PermissionPolicy = Literal["allow", "deny", "ask"]
PERMISSION_POLICIES: tuple[str, ...] = get_args(PermissionPolicy)

# How a model provider reaches an agent, its kind: not at all, through Anthropic variables, or as an
# OpenAI Responses provider in Codex's configuration. Code names a kind by its constant.
PLAIN: Final = "plain"
CLAUDE_CODE: Final = "claude-code"
CODEX: Final = "codex"
AgentKind = Literal["plain", "claude-code", "codex"]
AGENT_KINDS: tuple[str, ...] = get_args(AgentKind)
KIND_PLAIN, KIND_CLAUDE_CODE, KIND_CODEX = AGENT_KINDS

# The seed's bounds on what a request may ask for one container.
MIN_MEMORY = 512 * 1024**2
MAX_MEMORY = 64 * 1024**3
MIN_CPUS = 0.5
MAX_CPUS = 32.0


def project_route(area: str, project_id: str, user_id: str | None = None) -> str:
    """Where a project's `area` (files, git, terminal) is: /agent/<area>/{project_id} for a /chat
    project, /computer/<area>/{user_id}/{project_id} for a Computer Agent project."""
    return f"/computer/{area}/{user_id}/{project_id}" if user_id else f"/agent/{area}/{project_id}"


# A template's name (appliance/templates.py): lowercase, as it goes into an image's name.
TEMPLATE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
