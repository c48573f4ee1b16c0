"""What the gateway and the runners both rely on beside agent.proto's messages: the runner's ports,
the kinds of event that frame a turn, the default agent, the client's language and the connection's
keepalive. (The shape of ids, permission policies and kinds of agent are the HTTP API's as well: they
live in rcoder_wire/contract.py.)"""

from __future__ import annotations

RUNNER_PORT = 50051
# A files container's HTTP API (`rcoder-runner --files`, runner/files/server.py).
FILES_PORT = 50052
# The runner's health service name that turns SERVING once the agent it starts at boot (for the first
# chat) is up, or NOT_SERVING if that agent failed; unknown while it starts.
PRESTARTED_SERVICE = "rcoder.prestarted-agent"

# ProgressEvent.message_type of a turn's first and last (terminal) events; updates come between.
PROMPT_START = "SessionPromptStart"
PROMPT_END = "SessionPromptEnd"
SESSION_UPDATE = "AgentSessionUpdate"

DEFAULT_AGENT_ID = "demo"

# The gRPC metadata key that carries the client's language (its HTTP accept-language, resolved by the
# gateway to one of rcoder_rpc.messages.LANGUAGES): a runner words its messages in it.
LANGUAGE_METADATA = "accept-language"

# The gateway pings a runner's connection every KEEPALIVE_MS, idle or not; a runner accepts pings half
# as far apart. Pings closer than the server accepts are strikes, and a few strikes close the connection
# with GOAWAY "too_many_pings", failing every call on it.
KEEPALIVE_MS = 20_000
MAX_MESSAGE_BYTES = 128 * 1024 * 1024


def channel_options(keepalive_ms: int = KEEPALIVE_MS) -> list[tuple[str, int]]:
    """The gateway's side of the connection to a runner."""
    return [
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Keep pinging a connection that carries nothing (gRPC stops after two), so that a runner
        # that vanished is noticed during a long quiet turn as well.
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]


def server_options(keepalive_ms: int = KEEPALIVE_MS) -> list[tuple[str, int]]:
    """The runner's side: it accepts the gateway's pings, with or without calls in flight."""
    return [
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", keepalive_ms // 2),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
