"""The DuckDB connection, on its one thread, and whether the state can be written."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import duckdb

from appliance.errors import StateUnavailable
from appliance.store import containers, projects, sessions, templates
from appliance.store.write_behind import Write, WriteBehind

T = TypeVar("T")
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
# Each table family's own; no table refers to another, so their order does not matter.
SCHEMA = "\n".join((projects.SCHEMA, sessions.SCHEMA, containers.SCHEMA, templates.SCHEMA))
log = logging.getLogger(__name__)


class Store:
    """The state file's one connection and whether it can be written; its tables are reached through
    their families: `store.projects`, `store.sessions`, `store.containers`, `store.templates`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb")
        self._con: duckdb.DuckDBPyConnection | None = None
        # A job that does nothing else runs the deferred writes.
        self._behind = WriteBehind(lambda: self.run(lambda con: None))
        # Why the state cannot be written now (None: it can). Set by a refused write, cleared by the
        # next write that succeeds; the gateway takes no new work meanwhile (require_writable).
        self.problem: str | None = None
        # Opened read-only, because the state could not be opened for writing: restart to write again.
        self.read_only = False
        self.projects = projects.Projects(self)
        self.sessions = sessions.Sessions(self)
        self.containers = containers.Containers(self)
        self.templates = templates.Templates(self)

    def require_writable(self) -> None:
        if self.problem is not None:
            raise StateUnavailable(
                "the gateway cannot write its state ({problem}); it takes no new work until it can. "
                "Running turns go on and their events are kept in memory; free space on (or remount) "
                "the state volume",
                problem=self.problem,
            )

    async def run(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `fn` on the store's thread, after every write deferred before it. Deferred writes the
        file system refuses are kept, in order, and tried again."""
        behind = self._behind.take()
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

    async def write(self, fn: Write) -> None:
        """Run a write; one the file system refuses marks the state unwritable, and raises. On a store
        opened read-only, writes are skipped (the problem is known, and no new work comes)."""
        if self.read_only:
            return
        try:
            await self.run(fn)
        except UNWRITABLE as exc:
            self._unwritable(exc)
            raise
        self._writable()

    def _retain(self, writes: list[Write], exc: BaseException) -> None:
        self._behind.put_back(writes)
        self._unwritable(exc)
        self._behind.flush_in(RETRY_SECONDS)

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
        self._behind.defer(write)

    async def close(self) -> None:
        await self._behind.close()

        def close_() -> None:
            if self._con is not None:
                if not self.read_only:
                    with contextlib.suppress(*UNWRITABLE):  # a full volume: the WAL keeps it all
                        self._con.execute("CHECKPOINT")
                self._con.close()
                self._con = None

        await asyncio.get_running_loop().run_in_executor(self._executor, close_)
        self._executor.shutdown()
