"""appliance/store/write_behind.py through the store: deferred writes are never overtaken, go on
their own soon after, and one that fails does not fail the next query."""

from __future__ import annotations

import asyncio

from appliance.projects import ProjectRef
from appliance.store.projects import project_touched
from appliance.store.sessions import session_recorded
from appliance.store.write_behind import WRITE_BEHIND_SECONDS


async def test_a_deferred_write_runs_before_any_later_query_and_on_its_own_soon_after(store):
    ref = ProjectRef("later")
    store.defer(project_touched(ref))
    store.defer(session_recorded("s-1", ref.key))

    row = await store.projects.get(ref.key)  # at once: the query runs the writes deferred before it first

    assert row is not None and row.latest_session_id == "s-1"
    ran: list[str] = []
    store.defer(lambda con: ran.append("written"))
    # Nothing else asks: the write goes on its own, shortly.
    for _ in range(40):
        if ran:
            break
        await asyncio.sleep(WRITE_BEHIND_SECONDS)
    assert ran == ["written"]


async def test_a_failing_deferred_write_is_logged_and_does_not_fail_the_next_query(store, caplog):
    def broken(con) -> None:
        con.execute("UPDATE no_such_table SET x = 1")

    store.defer(broken)
    store.defer(project_touched(ProjectRef("after")))

    assert (await store.projects.get("after")) is not None
    assert "a deferred write of the state failed" in caplog.text
