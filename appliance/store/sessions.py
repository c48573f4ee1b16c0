"""The sessions table (where each session's event log stands) and the events table (the log itself)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from appliance.store.write_behind import Write
from rcoder_rpc import agent_pb2

if TYPE_CHECKING:
    from appliance.store.connection import Store

SCHEMA = """
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
-- Columns added since the first release, for state files written by it.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS last_sequence BIGINT DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS turn_start BIGINT DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS in_turn BOOLEAN DEFAULT false;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS runner_base BIGINT DEFAULT 0;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS runner_container VARCHAR;
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
"""


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


class Sessions:
    """The store's sessions and their events (`store.sessions`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(self, session_id: str, key: str) -> None:
        await self._store.write(session_recorded(session_id, key))

    async def state(self, session_id: str) -> SessionState | None:
        row = await self._store.run(
            lambda con: con.execute(
                f"SELECT {SESSION_STATE_COLUMNS} FROM sessions WHERE session_id = ?", [session_id]
            ).fetchone()
        )
        return SessionState(*row) if row else None

    async def in_turn(
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
        rows = await self._store.run(lambda con: con.execute(query, params).fetchall())
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

        await self._store.write(write)

    async def events_after(self, session_id: str, sequence: int, limit: int) -> list[agent_pb2.ProgressEvent]:
        rows = await self._store.run(
            lambda con: con.execute(
                f"""SELECT {", ".join(EVENT_COLUMNS)} FROM events
                    WHERE session_id = ? AND sequence > ? ORDER BY sequence LIMIT ?""",
                [session_id, sequence, limit],
            ).fetchall()
        )
        fields = [name.removesuffix("_ms") for name in EVENT_COLUMNS]  # timestamp_ms is the event's timestamp
        return [agent_pb2.ProgressEvent(**dict(zip(fields, row, strict=True))) for row in rows]
