"""`rcoder`: the client's commands; `rcoder serve` runs the gateway (its own command, `rcoder-gateway`).

Nothing is imported before the first argument is known: `serve` hands the process to the gateway's
command, which needs none of the client's dependencies, and a client command pays for none of the
gateway's imports.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

GATEWAY = "rcoder-gateway"
NOT_INSTALLED = "rcoder serve: the gateway is not installed here: pip install 'rcoder[gateway]'"


def gateway_command() -> str | None:
    """The gateway's command, if the gateway is installed: next to this Python, else on PATH. Its
    script comes with every install of the package, so the gateway's web framework says whether the
    gateway extra came too."""
    if importlib.util.find_spec("sanic") is None:
        return None
    sibling = Path(sys.executable).with_name(GATEWAY)
    return str(sibling) if sibling.is_file() else shutil.which(GATEWAY)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        command = gateway_command()
        if command is None:
            sys.exit(NOT_INSTALLED)
        os.execv(command, [command, *args[1:]])
    from rcoder.commands import main as client_main

    sys.exit(client_main(args))
