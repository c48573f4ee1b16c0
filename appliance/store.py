"""The gateway's state in a DuckDB file: projects, their sessions, and the containers started for them.

The gateway is the file's only writer. DuckDB connections are not thread-safe, so every
query runs on one dedicated thread, which also keeps the event loop free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project_id        VARCHAR PRIMARY KEY,
    service_type      VARCHAR NOT NULL DEFAULT 'RCoder',
    user_id           VARCHAR,
    container_id      VARCHAR,
    latest_session_id VARCHAR,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id    VARCHAR PRIMARY KEY,
    project_id    VARCHAR NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity TIMESTAMPTZ NOT NULL DEFAULT now()
);
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
"""


@dataclass(frozen=True)
class ProjectRow:
    project_id: str
    service_type: str
    container_id: str | None
    latest_session_id: str | None
    created_at: datetime
    last_activity: datetime


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
        self._con: duckdb.DuckDBPyConnection | None = None

    async def _run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._connection()))

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("the store is not open")
        return self._con

    async def open(self) -> None:
        def open_() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = duckdb.connect(str(self.path))
            self._con.execute(SCHEMA)

        await asyncio.get_running_loop().run_in_executor(self._executor, open_)

    async def close(self) -> None:
        def close_() -> None:
            if self._con is not None:
                self._con.execute("CHECKPOINT")
                self._con.close()
                self._con = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close_)
        self._executor.shutdown()

    async def touch_project(self, project_id: str, service_type: str = "RCoder") -> None:
        await self._run(
            lambda con: con.execute(
                """INSERT INTO projects (project_id, service_type) VALUES (?, ?)
                   ON CONFLICT (project_id) DO UPDATE SET last_activity = now()""",
                [project_id, service_type],
            )
        )

    async def project(self, project_id: str) -> ProjectRow | None:
        row = await self._run(
            lambda con: con.execute(
                """SELECT project_id, service_type, container_id, latest_session_id, created_at, last_activity
                   FROM projects WHERE project_id = ?""",
                [project_id],
            ).fetchone()
        )
        return ProjectRow(*row) if row else None

    async def record_session(self, session_id: str, project_id: str) -> None:
        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                """INSERT INTO sessions (session_id, project_id) VALUES (?, ?)
                   ON CONFLICT (session_id) DO UPDATE SET last_activity = now()""",
                [session_id, project_id],
            )
            con.execute(
                "UPDATE projects SET latest_session_id = ?, last_activity = now() WHERE project_id = ?",
                [session_id, project_id],
            )

        await self._run(record)

    async def project_of_session(self, session_id: str) -> str | None:
        row = await self._run(
            lambda con: con.execute(
                "SELECT project_id FROM sessions WHERE session_id = ?", [session_id]
            ).fetchone()
        )
        return row[0] if row else None

    async def record_container(self, container: dict[str, Any]) -> None:
        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                """INSERT INTO containers (container_id, container_name, kind, project_id, user_id, image, address)
                   VALUES ($container_id, $container_name, $kind, $project_id, $user_id, $image, $address)
                   ON CONFLICT (container_id) DO UPDATE SET address = excluded.address, removed_at = NULL""",
                container,
            )
            if container.get("project_id"):
                con.execute(
                    "UPDATE projects SET container_id = ? WHERE project_id = ?",
                    [container["container_id"], container["project_id"]],
                )

        await self._run(record)

    async def container_removed(self, container_id: str) -> None:
        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("UPDATE containers SET removed_at = now() WHERE container_id = ?", [container_id])
            con.execute("UPDATE projects SET container_id = NULL WHERE container_id = ?", [container_id])

        await self._run(record)
