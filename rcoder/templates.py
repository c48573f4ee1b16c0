"""Templates (docs/templates.md): the toolchains a project may start on. `appliance.templates` lists
them, builds one from a local folder (a Dockerfile and its context, or a devcontainer.json), its log
as the engine builds, and removes one."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rcoder.archives import GZIP, archive_kind, folder_archive, read_chunks
from rcoder_wire.replies import TemplateInfo, TemplateRemovedData, TemplatesData

if TYPE_CHECKING:
    from rcoder.client import Appliance

# A build is silent while a step runs; the appliance sends a keep-alive every 15 s.
BUILD_READ_TIMEOUT = 120.0


@dataclass(frozen=True)
class BuildEvent:
    """One event of a build: "log" (text: a line of the engine's output), then "ready" (text: the
    template's name) or "failed" (text: why)."""

    kind: str
    text: str


class Templates:
    def __init__(self, appliance: Appliance) -> None:
        self._appliance = appliance

    async def list(self) -> list[TemplateInfo]:
        return (await self._appliance.call("GET", "/templates", reply=TemplatesData)).templates

    async def build(
        self,
        name: str,
        source: str | os.PathLike[str],
        *,
        devcontainer: bool = False,
        path: str | None = None,
        description: str | None = None,
    ) -> AsyncIterator[BuildEvent]:
        """Build the template `name` from `source`: a local folder (packed as tar.gz while it is sent)
        or a tar or tar.gz of one, holding a Dockerfile and its context, or with `devcontainer` a
        devcontainer.json (`path`: where it is, if not at the default). Iterate for the build's events;
        the last is "ready" or "failed"."""
        local = Path(source)
        params = {"name": name, "kind": "devcontainer" if devcontainer else "dockerfile"}
        params |= {key: value for key, value in (("path", path), ("description", description)) if value}
        if await asyncio.to_thread(local.is_dir):
            chunks, headers = folder_archive(local), {"content-type": GZIP}
        else:
            kind = await asyncio.to_thread(archive_kind, local)
            size = (await asyncio.to_thread(local.stat)).st_size
            chunks, headers = read_chunks(local, size), {"content-type": kind, "content-length": str(size)}
        events = self._appliance.events(
            "POST",
            "/templates",
            params=params,
            headers=headers,
            content=chunks,
            read_timeout=BUILD_READ_TIMEOUT,
        )
        async for event in events:
            data = json.loads(event.data)
            yield BuildEvent(
                event.event, str(data.get("line", data.get("template", data.get("message", ""))))
            )

    async def remove(self, name: str) -> None:
        """Remove a template built from an upload, once no project runs on it (else Conflict)."""
        await self._appliance.call("DELETE", f"/templates/{name}", reply=TemplateRemovedData)
