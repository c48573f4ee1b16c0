"""The gateway's state in a DuckDB file: projects, their sessions, and the containers started for them.

The gateway is the file's only writer. DuckDB connections are not thread-safe, so every
query runs on one dedicated thread, which also keeps the event loop free.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from appliance.errors import StateUnavailable
from appliance.projects import Pod, ProjectRef
from rcoder_rpc import agent_pb2

T = TypeVar("T")
Write = Callable[[duckdb.DuckDBPyConnection], Any]
# How long a deferred write may wait for the store's next job before it is run on its own.
WRITE_BEHIND_SECONDS = 0.05
# While the state cannot be written (volume full or read-only), how often deferred writes are tried again.
RETRY_SECONDS = 1.0
# What a write that the file system refused raises (a full or read-only volume, lost permissions).
# DuckDB raises FatalException when that happens during a checkpoint, and then refuses every later
# use until the gateway restarts ("database has been invalidated"): that too is a state that cannot
# be written, not a write to log and drop.
UNWRITABLE = (
    duckdb.IOException,
    duckdb.TransactionException,
    duckdb.PermissionException,
    duckdb.FatalException,
    OSError,
)
log = logging.getLogger(__name__)

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
CREATE TABLE IF NOT EXISTS sessions (
    session_id       VARCHAR PRIMARY KEY,
    project_id       VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The event log's position: see appliance/events.py.
    last_sequence    BIGINT NOT NULL DEFAULT 0,
    turn_start       BIGINT NOT NULL DEFAULT 0,
    in_turn          BOOLEAN NOT NULL DEFAULT false,
    runner_base      BIGINT NOT NULL DEFAULT 0,
    runner_container VARCHAR
);
CREATE TABLE IF NOT EXISTS events (
    session_id   VARCHAR NOT NULL,
    sequence     BIGINT NOT NULL,
    message_type VARCHAR NOT NULL,
    sub_type     VARCHAR NOT NULL,
    payload      VARCHAR NOT NULL,
    request_id   VARCHAR,
    timestamp_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, sequence)
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
-- The volume holding a project's workspace, when it is not the one named after the project: a project
-- whose first container came from the warm pool keeps that container's fresh volume.
CREATE TABLE IF NOT EXISTS workspaces (
    project_id VARCHAR PRIMARY KEY,
    volume     VARCHAR NOT NULL
);
-- Columns added since the first release, for state files written by it.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS model_provider VARCHAR;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS last_sequence BIGINT DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS turn_start BIGINT DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS in_turn BOOLEAN DEFAULT false;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS runner_base BIGINT DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS runner_container VARCHAR;
-- A project in a pod (appliance/projects.py): the pod, and the project's folder in it.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS pod_id VARCHAR;
ALTER TABLE projects ADD COLUMN IF NOT EXISTS pod_folder VARCHAR;
ALTER TABLE containers ADD COLUMN IF NOT EXISTS pod_id VARCHAR;
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


@dataclass
class SessionState:
    """Where a session's event log stands (kept in memory by the event hub, written with its events)."""

    session_id: str
    project_id: str  # the project's key (see appliance/projects.py)
    last_sequence: int = 0
    turn_start: int = 0
    in_turn: bool = False
    runner_base: int = 0
    runner_container: str | None = None


SESSION_STATE_COLUMNS = (
    "session_id, project_id, last_sequence, turn_start, in_turn, runner_base, runner_container"
)
EVENT_COLUMNS = [
    "session_id",
    "sequence",
    "message_type",
    "sub_type",
    "payload",
    "request_id",
    "timestamp_ms",
]


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


def placed_in_pod(key: str, pod: Pod) -> Write:
    """Record that the project lives in the pod, in its folder (it stays there)."""
    return lambda con: con.execute(
        "UPDATE projects SET pod_id = ?, pod_folder = ? WHERE project_id = ?", [pod.pod_id, pod.folder, key]
    )


def session_recorded(session_id: str, key: str) -> Write:
    """Record the session (or its activity), and that it is its project's latest."""

    def record(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            """INSERT INTO sessions (session_id, project_id) VALUES (?, ?)
               ON CONFLICT (session_id) DO UPDATE SET last_activity = now()""",
            [session_id, key],
        )
        con.execute(
            "UPDATE projects SET latest_session_id = ?, last_activity = now() WHERE project_id = ?",
            [session_id, key],
        )

    return record


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
        self._con: duckdb.DuckDBPyConnection | None = None
        self._behind: list[Write] = []
        self._flush_behind: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        # Why the state cannot be written now (None: it can). Set by a refused write, cleared by the
        # next write that succeeds; the gateway takes no new work meanwhile (require_writable).
        self.problem: str | None = None
        # Opened read-only, because the state could not be opened for writing: restart to write again.
        self.read_only = False

    def require_writable(self) -> None:
        if self.problem is not None:
            raise StateUnavailable(
                "the gateway cannot write its state ({problem}); it takes no new work until it can. "
                "Running turns go on and their events are kept in memory; free space on (or remount) "
                "the state volume",
                problem=self.problem,
            )

    async def _run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on the store's thread, after every write deferred before it. Deferred writes the
        file system refuses are kept, in order, and tried again."""
        behind, self._behind = self._behind, []
        loop = asyncio.get_running_loop()

        def job() -> T:
            con = self._connection()
            for done, write in enumerate(behind):
                try:
                    write(con)
                except UNWRITABLE as exc:
                    loop.call_soon_threadsafe(self._retain, behind[done:], exc)
                    break
                except Exception:
                    log.exception("a deferred write of the state failed")
            else:
                if behind:
                    loop.call_soon_threadsafe(self._writable)
            return fn(con)

        return await loop.run_in_executor(self._executor, job)

    async def _write(self, fn: Write) -> None:
        """Run a write; one the file system refuses marks the state unwritable, and raises. On a store
        opened read-only, writes are skipped (the problem is known, and no new work comes)."""
        if self.read_only:
            return
        try:
            await self._run(fn)
        except UNWRITABLE as exc:
            self._unwritable(exc)
            raise
        self._writable()

    def _retain(self, writes: list[Write], exc: BaseException) -> None:
        self._behind[:0] = writes
        self._unwritable(exc)
        if self._flush_behind is None:
            self._flush_behind = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._write_behind)

    def _unwritable(self, exc: BaseException) -> None:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, duckdb.FatalException):
            problem += "; restart the gateway once the volume can be written"
        if self.problem is None:
            log.error("the state cannot be written, so no new work is taken: %s", problem)
        self.problem = problem

    def _writable(self) -> None:
        if self.problem is not None:
            log.info("the state can be written again; new work is taken")
        self.problem = None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise RuntimeError("the store is not open")
        return self._con

    async def open(self) -> None:
        """Open the state; one that cannot be written is opened read-only (or empty, if it does not
        exist yet), so that the gateway serves what it holds and takes no new work."""

        def open_() -> BaseException | None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._con = duckdb.connect(str(self.path))
                self._con.execute(SCHEMA)
            except UNWRITABLE as exc:
                if self.path.exists():
                    self._con = duckdb.connect(str(self.path), read_only=True)
                else:
                    self._con = duckdb.connect(":memory:")
                    self._con.execute(SCHEMA)
                return exc
            return None

        refused = await asyncio.get_running_loop().run_in_executor(self._executor, open_)
        if refused is not None:
            self.read_only = True
            self._unwritable(refused)
            self.problem = (
                f"{self.problem}; opened read-only: restart the gateway once the volume can be written"
            )

    def defer(self, write: Write) -> None:
        """Write behind: `write` runs with the store's next job, or on its own WRITE_BEHIND_SECONDS
        from now, so never on the path of the request that made it, yet before every query made after
        it (in order); a failure is logged."""
        if self.read_only:
            return
        self._behind.append(write)
        if self._flush_behind is None:
            self._flush_behind = asyncio.get_running_loop().call_later(
                WRITE_BEHIND_SECONDS, self._write_behind
            )

    def _write_behind(self) -> None:
        self._flush_behind = None
        if self._behind:
            task = asyncio.create_task(self._run(lambda con: None))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def close(self) -> None:
        if self._flush_behind is not None:
            self._flush_behind.cancel()
        await asyncio.gather(*self._flushing, return_exceptions=True)
        if self._behind:
            await self._run(lambda con: None)

        def close_() -> None:
            if self._con is not None:
                if not self.read_only:
                    with contextlib.suppress(*UNWRITABLE):  # a full volume: the WAL keeps it all
                        self._con.execute("CHECKPOINT")
                self._con.close()
                self._con = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close_)
        self._executor.shutdown()

    async def touch_project(self, ref: ProjectRef) -> None:
        await self._write(project_touched(ref))

    async def ensure_project(self, project_id: str) -> None:
        """Record a project found on the engine (adopted) without counting it as activity."""
        await self._write(
            lambda con: con.execute(
                "INSERT INTO projects (project_id) VALUES (?) ON CONFLICT (project_id) DO NOTHING",
                [project_id],
            )
        )

    async def projects_with_containers(self) -> list[tuple[str, datetime]]:
        """(project_id, last_activity) of each project that has a container."""
        return await self._run(
            lambda con: con.execute(
                "SELECT project_id, last_activity FROM projects WHERE container_id IS NOT NULL"
            ).fetchall()
        )

    async def desktops_with_activity(self) -> list[tuple[str, datetime]]:
        """(user_id, latest activity) of each running desktop: the last use of any of the user's
        projects, or the desktop's start if that came later."""
        return await self._run(
            lambda con: con.execute(
                """SELECT c.user_id, greatest(max(c.created_at), coalesce(max(p.last_activity), max(c.created_at)))
                   FROM containers c LEFT JOIN projects p ON p.user_id = c.user_id
                   WHERE c.kind = 'desktop' AND c.removed_at IS NULL GROUP BY c.user_id"""
            ).fetchall()
        )

    async def pods_with_activity(self) -> list[tuple[str, datetime]]:
        """(pod_id, latest activity) of each running pod: the last use of any of its projects, or the
        pod's start if that came later."""
        return await self._run(
            lambda con: con.execute(
                """SELECT c.pod_id, greatest(max(c.created_at), coalesce(max(p.last_activity), max(c.created_at)))
                   FROM containers c LEFT JOIN projects p ON p.pod_id = c.pod_id
                   WHERE c.kind = 'pod' AND c.removed_at IS NULL GROUP BY c.pod_id"""
            ).fetchall()
        )

    async def pods(self) -> dict[str, Pod]:
        """{project key: its pod} of every project that lives in a pod."""
        rows = await self._run(
            lambda con: con.execute(
                "SELECT project_id, pod_id, pod_folder FROM projects WHERE pod_id IS NOT NULL"
            ).fetchall()
        )
        return {key: Pod(pod_id, folder) for key, pod_id, folder in rows}

    async def project(self, key: str) -> ProjectRow | None:
        row = await self._run(
            lambda con: con.execute(
                """SELECT project_id, service_type, container_id, latest_session_id, created_at, last_activity,
                          model_provider
                   FROM projects WHERE project_id = ?""",
                [key],
            ).fetchone()
        )
        if not row:
            return None
        *columns, provider = row
        return ProjectRow(*columns, model_provider=json.loads(provider) if provider else None)

    async def record_session(self, session_id: str, key: str) -> None:
        await self._write(session_recorded(session_id, key))

    async def record_container(self, container: dict[str, Any]) -> None:
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

        await self._write(record)

    async def bind_workspace(self, key: str, volume: str) -> None:
        await self._write(
            lambda con: con.execute(
                "INSERT INTO workspaces VALUES (?, ?) ON CONFLICT (project_id) DO UPDATE SET volume = excluded.volume",
                [key, volume],
            )
        )

    async def workspaces(self) -> dict[str, str]:
        """{project key: volume} of the projects whose workspace is not named after them."""
        rows = await self._run(
            lambda con: con.execute("SELECT project_id, volume FROM workspaces").fetchall()
        )
        return dict(rows)

    async def container_removed(self, container_id: str) -> None:
        def record(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("UPDATE containers SET removed_at = now() WHERE container_id = ?", [container_id])
            con.execute("UPDATE projects SET container_id = NULL WHERE container_id = ?", [container_id])

        await self._write(record)

    async def session_state(self, session_id: str) -> SessionState | None:
        row = await self._run(
            lambda con: con.execute(
                f"SELECT {SESSION_STATE_COLUMNS} FROM sessions WHERE session_id = ?", [session_id]
            ).fetchone()
        )
        return SessionState(*row) if row else None

    async def sessions_in_turn(
        self, key: str | None = None, user_id: str | None = None, pod_id: str | None = None
    ) -> list[SessionState]:
        """The sessions in a turn: all, those of one project, of a user's desktop projects, or of the
        projects in a pod."""
        query = f"SELECT {SESSION_STATE_COLUMNS} FROM sessions WHERE in_turn"
        params: list[Any] = []
        if key is not None:
            query += " AND project_id = ?"
            params.append(key)
        for column, value in (("user_id", user_id), ("pod_id", pod_id)):
            if value is not None:
                query += f" AND project_id IN (SELECT project_id FROM projects WHERE {column} = ?)"
                params.append(value)
        rows = await self._run(lambda con: con.execute(query, params).fetchall())
        return [SessionState(*row) for row in rows]

    async def write_events(self, events: list[agent_pb2.ProgressEvent], sessions: list[SessionState]) -> None:
        """Append events (in bulk, through DuckDB's appender) and save where their sessions stand."""
        rows = [
            (
                e.session_id,
                e.sequence,
                e.message_type,
                e.sub_type,
                e.payload,
                e.request_id or None,
                e.timestamp,
            )
            for e in events
        ]
        states = [
            (
                s.session_id,
                s.project_id,
                s.last_sequence,
                s.turn_start,
                s.in_turn,
                s.runner_base,
                s.runner_container,
            )
            for s in sessions
        ]

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("BEGIN")
            try:
                if rows:
                    with con.appender("events", columns=EVENT_COLUMNS, action="upsert") as appender:
                        appender.append_rows(rows)
                if states:
                    con.executemany(
                        f"""INSERT INTO sessions ({SESSION_STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
                            ON CONFLICT (session_id) DO UPDATE SET
                              last_sequence = excluded.last_sequence, turn_start = excluded.turn_start,
                              in_turn = excluded.in_turn, runner_base = excluded.runner_base,
                              runner_container = excluded.runner_container""",
                        states,
                    )
                con.execute("COMMIT")
            except BaseException:
                # A failed COMMIT has ended the transaction already.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise

        await self._write(write)

    async def events_after(self, session_id: str, sequence: int, limit: int) -> list[agent_pb2.ProgressEvent]:
        rows = await self._run(
            lambda con: con.execute(
                f"""SELECT {", ".join(EVENT_COLUMNS)} FROM events
                    WHERE session_id = ? AND sequence > ? ORDER BY sequence LIMIT ?""",
                [session_id, sequence, limit],
            ).fetchall()
        )
        fields = [name.removesuffix("_ms") for name in EVENT_COLUMNS]  # timestamp_ms is the event's timestamp
        return [agent_pb2.ProgressEvent(**dict(zip(fields, row, strict=True))) for row in rows]
