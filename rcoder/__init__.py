"""The RCoder client: an appliance's API in Python, async first.

    from rcoder import Appliance

    async with Appliance("http://127.0.0.1:8088", api_key) as rc:
        turn = await rc.project("p1").chat("create hello.txt", permission_policy="ask")
        async for event in turn:
            ...
        print(await rc.project("p1").files.read("hello.txt"))

Names are imported on first use, so that `rcoder serve` (which hands over to the gateway) imports
none of the client's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rcoder.client import Appliance
    from rcoder.files import ProjectFiles
    from rcoder.project import Project
    from rcoder.shell import TerminalSession
    from rcoder.sync import run
    from rcoder.turn import Turn, TurnResult

# name: (module, attribute in it; None: the module itself)
EXPORTS: dict[str, tuple[str, str | None]] = {
    "Appliance": ("rcoder.client", "Appliance"),
    "Project": ("rcoder.project", "Project"),
    "ProjectFiles": ("rcoder.files", "ProjectFiles"),
    "TerminalSession": ("rcoder.shell", "TerminalSession"),
    "Turn": ("rcoder.turn", "Turn"),
    "TurnResult": ("rcoder.turn", "TurnResult"),
    "run": ("rcoder.sync", "run"),
    "events": ("rcoder.events", None),
    "errors": ("rcoder.errors", None),
}
__all__ = [
    "Appliance",
    "Project",
    "ProjectFiles",
    "TerminalSession",
    "Turn",
    "TurnResult",
    "errors",
    "events",
    "run",
]


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'rcoder' has no attribute {name!r}")
    module_name, attribute = EXPORTS[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)
