"""`rcoder`: the gateway with no subcommand (its flags as before), the client with one.

Nothing is imported before the first argument is known: the gateway's image carries none of the
client's dependencies, and a client command does not pay for the gateway's imports.
"""

from __future__ import annotations

import sys

CLIENT_COMMANDS = ("chat", "status", "stop", "cancel", "preview", "desktop", "logs", "pods", "agents")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in CLIENT_COMMANDS:
        from rcoder.commands import main as client_main

        sys.exit(client_main(args))
    from appliance.cli import main as gateway_main

    gateway_main(args)
