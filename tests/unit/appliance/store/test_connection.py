"""appliance/store/connection.py on a real DuckDB file: a state the file system refuses to write
stops new work until it can be written again."""

from __future__ import annotations

import asyncio

import duckdb
import pytest

from appliance.errors import StateUnavailable
from appliance.projects import ProjectRef
from appliance.store.projects import project_touched


async def test_a_refused_deferred_write_is_kept_in_order_and_the_state_is_unwritable_until_it_succeeds(store):
    refusals = [duckdb.IOException('Could not write file "state.wal": No space left on device')]

    def refused_once(con) -> None:
        if refusals:
            raise refusals.pop()
        con.execute("INSERT INTO projects (project_id) VALUES ('first')")

    store.defer(refused_once)
    store.defer(project_touched(ProjectRef("second")))
    await store.projects.get("anything")  # runs the deferred writes: the first is refused
    await asyncio.sleep(0)  # the store hears of it on the event loop
    assert store.problem is not None and "No space left on device" in store.problem
    with pytest.raises(StateUnavailable, match=r"cannot write its state .*No space left on device"):
        store.require_writable()

    # Tried again (in order: "second" is not written before "first").
    assert await store.projects.get("first") is not None and await store.projects.get("second") is not None
    await asyncio.sleep(0)
    assert store.problem is None
    store.require_writable()


async def test_a_fatal_engine_error_marks_the_state_unwritable_rather_than_dropping_the_write(store):
    """What DuckDB raises when the volume turns read-only during a checkpoint (seen on ext4 with
    `remount,abort`): the database is invalidated, and only a restarted gateway writes again."""
    fatal = duckdb.FatalException(
        'FATAL Error: Failed to create checkpoint because of error: Could not write file "state.wal": '
        "Read-only file system"
    )

    def invalidated(con) -> None:
        raise fatal

    store.defer(invalidated)
    await store.projects.get("anything")
    await asyncio.sleep(0)

    assert store.problem is not None and "Read-only file system" in store.problem
    assert "restart the gateway" in store.problem
    with pytest.raises(StateUnavailable, match="cannot write its state"):
        store.require_writable()
