"""The projects table (one row per project key) and the workspaces table (the volumes bound to them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from appliance.projects import Pod, ProjectRef
from appliance.store.write_behind import Write

if TYPE_CHECKING:
    from appliance.store.connection import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project_id        VARCHAR PRIMARY KEY,  -- the project's key: see appliance/projects.py
    service_type      VARCHAR NOT NULL DEFAULT 'RCoder',
    user_id           VARCHAR,
    container_id      VARCHAR,
    latest_session_id VARCHAR,
    -- The model provider of the latest chat, without its key: {id, name, api_protocol, default_model}.
    model_provider    VARCHAR,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Columns added since the first release, for state files written by it.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS model_provider VARCHAR;
-- A project in a pod (appliance/projects.py): the pod, and the project's folder in it.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS pod_id VARCHAR;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS pod_folder VARCHAR;
-- The repository a project was cloned from on its first turn, and the ref asked for.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS repository_url VARCHAR;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS repository_ref VARCHAR;
-- The template a project was started on (its first turn's; appliance/templates.py); NULL: the agent image.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS template VARCHAR;
-- The volume holding a project's workspace, when it is not the one named after the project: a project
-- whose first container came from the warm pool keeps that container's fresh volume.
CREATE TABLE IF NOT EXISTS workspaces (
    project_id VARCHAR PRIMARY KEY,
    volume     VARCHAR NOT NULL
);
"""


@dataclass(frozen=True)
class ProjectRow:
    project_id: str
    service_type: str
    container_id: str | None
    latest_session_id: str | None
    created_at: datetime
    last_activity: datetime
    model_provider: dict[str, Any] | None = None
    repository_url: str | None = None
    repository_ref: str | None = None
    template: str | None = None


def project_touched(ref: ProjectRef) -> Write:
    """Record activity of the project (creating it on first use)."""
    return lambda con: con.execute(
        """INSERT INTO projects (project_id, service_type, user_id) VALUES (?, ?, ?)
           ON CONFLICT (project_id) DO UPDATE SET last_activity = now()""",
        [ref.key, ref.service_type, ref.user_id],
    )


def model_provider_noted(key: str, provider: dict[str, Any] | None) -> Write:
    """Note the project's model provider (the caller leaves the key out: keys are never stored)."""
    text = json.dumps(provider) if provider is not None else None
    return lambda con: con.execute("UPDATE projects SET model_provider = ? WHERE project_id = ?", [text, key])


def repository_noted(key: str, url: str, ref: str | None) -> Write:
    """Note the repository the project is cloned from (its URL never holds a token: the body's rules)."""
    return lambda con: con.execute(
        "UPDATE projects SET repository_url = ?, repository_ref = ? WHERE project_id = ?", [url, ref, key]
    )


def template_noted(key: str, template: str) -> Write:
    """Bind the project to the template its first turn named."""
    return lambda con: con.execute("UPDATE projects SET template = ? WHERE project_id = ?", [template, key])


def placed_in_pod(key: str, pod: Pod) -> Write:
    """Record that the project lives in the pod, in its folder (it stays there)."""
    return lambda con: con.execute(
        "UPDATE projects SET pod_id = ?, pod_folder = ? WHERE project_id = ?", [pod.pod_id, pod.folder, key]
    )


class Projects:
    """The store's projects and their workspaces (`store.projects`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def touch(self, ref: ProjectRef) -> None:
        await self._store.write(project_touched(ref))

    async def ensure(self, project_id: str) -> None:
        """Record a project found on the engine (adopted) without counting it as activity."""
        await self._store.write(
            lambda con: con.execute(
                "INSERT INTO projects (project_id) VALUES (?) ON CONFLICT (project_id) DO NOTHING",
                [project_id],
            )
        )

    async def with_containers(self) -> list[tuple[str, datetime]]:
        """(project_id, last_activity) of each project that has a container."""
        return await self._store.run(
            lambda con: con.execute(
                "SELECT project_id, last_activity FROM projects WHERE container_id IS NOT NULL"
            ).fetchall()
        )

    async def pods(self) -> dict[str, Pod]:
        """{project key: its pod} of every project that lives in a pod."""
        rows = await self._store.run(
            lambda con: con.execute(
                "SELECT project_id, pod_id, pod_folder FROM projects WHERE pod_id IS NOT NULL"
            ).fetchall()
        )
        return {key: Pod(pod_id, folder) for key, pod_id, folder in rows}

    async def templates(self) -> dict[str, str]:
        """{project key: its template} of every project started on one."""
        rows = await self._store.run(
            lambda con: con.execute(
                "SELECT project_id, template FROM projects WHERE template IS NOT NULL"
            ).fetchall()
        )
        return dict(rows)

    async def get(self, key: str) -> ProjectRow | None:
        row = await self._store.run(
            lambda con: con.execute(
                """SELECT project_id, service_type, container_id, latest_session_id, created_at, last_activity,
                          model_provider, repository_url, repository_ref, template
                   FROM projects WHERE project_id = ?""",
                [key],
            ).fetchone()
        )
        if not row:
            return None
        *columns, provider, url, ref, template = row
        provider = json.loads(provider) if provider else None
        return ProjectRow(
            *columns, model_provider=provider, repository_url=url, repository_ref=ref, template=template
        )

    async def bind_workspace(self, key: str, volume: str) -> None:
        await self._store.write(
            lambda con: con.execute(
                "INSERT INTO workspaces VALUES (?, ?) ON CONFLICT (project_id) DO UPDATE SET volume = excluded.volume",
                [key, volume],
            )
        )

    async def workspaces(self) -> dict[str, str]:
        """{project key: volume} of the projects whose workspace is not named after them."""
        rows = await self._store.run(
            lambda con: con.execute("SELECT project_id, volume FROM workspaces").fetchall()
        )
        return dict(rows)
