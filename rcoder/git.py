"""`project.git`: what the agent changed in a project cloned from a repository, for a person to review."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rcoder_wire.contract import project_route
from rcoder_wire.replies import GitStatus

if TYPE_CHECKING:
    from rcoder.project import Project


class ProjectGit:
    def __init__(self, project: Project) -> None:
        self._appliance = project.appliance
        self._route = project_route("git", project.id, project.user)

    async def status(self) -> GitStatus:
        """The branch, the commits since the clone, and each changed or untracked file."""
        return await self._appliance.call("GET", f"{self._route}/status", reply=GitStatus)

    async def diff(self) -> str:
        """The diff of the working tree against the commit the project was cloned at (untracked files
        included), cut at 5 MiB by the appliance."""
        async with self._appliance.open("GET", f"{self._route}/diff") as response:
            data = b"".join([chunk async for chunk in self._appliance.body(response)])
        return data.decode("utf-8", "replace")
