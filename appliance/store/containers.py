"""The containers table: each container the gateway started or adopted, and when it went."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from appliance.store.connection import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    container_id   VARCHAR PRIMARY KEY,
    container_name VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,
    project_id     VARCHAR,
    user_id        VARCHAR,
    image          VARCHAR NOT NULL,
    address        VARCHAR,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    removed_at     TIMESTAMPTZ
);
-- A pod's container (appliance/projects.py): its pod.
ALTER TABLE containers ADD COLUMN IF NOT EXISTS pod_id VARCHAR;
"""


class Containers:
    """The store's containers (`store.containers`), and the activity they are kept for."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, container: dict[str, Any]) -> None:
        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                """INSERT INTO containers
                       (container_id, container_name, kind, project_id, user_id, pod_id, image, address)
                   VALUES ($container_id, $container_name, $kind, $project_id, $user_id, $pod_id, $image, $address)
                   ON CONFLICT (container_id) DO UPDATE SET address = excluded.address, removed_at = NULL""",
                container,
            )
            if container.get("project_id"):
                con.execute(
                    "UPDATE projects SET container_id = ? WHERE project_id = ?",
                    [container["container_id"], container["project_id"]],
                )

        await self._store.write(record)

    async def removed(self, container_id: str) -> None:
        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("UPDATE containers SET removed_at = now() WHERE container_id = ?", [container_id])
            con.execute("UPDATE projects SET container_id = NULL WHERE container_id = ?", [container_id])

        await self._store.write(record)

    async def desktops_with_activity(self) -> list[tuple[str, datetime]]:
        """(user_id, latest activity) of each running desktop: the last use of any of the user's
        projects, or the desktop's start if that came later."""
        return await self._store.run(
            lambda con: con.execute(
                """SELECT c.user_id, greatest(max(c.created_at), coalesce(max(p.last_activity), max(c.created_at)))
                   FROM containers c LEFT JOIN projects p ON p.user_id = c.user_id
                   WHERE c.kind = 'desktop' AND c.removed_at IS NULL GROUP BY c.user_id"""
            ).fetchall()
        )

    async def pods_with_activity(self) -> list[tuple[str, datetime]]:
        """(pod_id, latest activity) of each running pod: the last use of any of its projects, or the
        pod's start if that came later."""
        return await self._store.run(
            lambda con: con.execute(
                """SELECT c.pod_id, greatest(max(c.created_at), coalesce(max(p.last_activity), max(c.created_at)))
                   FROM containers c LEFT JOIN projects p ON p.pod_id = c.pod_id
                   WHERE c.kind = 'pod' AND c.removed_at IS NULL GROUP BY c.pod_id"""
            ).fetchall()
        )
