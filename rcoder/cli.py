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
    try:
        from appliance.cli import main as gateway_main
    except ModuleNotFoundError as exc:  # installed as the client only: rcoder[client]
        sys.exit(
            f"rcoder: the gateway cannot run here ({exc.name} is not installed: pip install 'rcoder[gateway]').\n"
            f"The client's commands: rcoder {'|'.join(CLIENT_COMMANDS)} (e.g. rcoder chat -h)."
        )
    gateway_main(args)
