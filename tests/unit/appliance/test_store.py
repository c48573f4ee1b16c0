"""appliance/store.py on a real DuckDB file: projects of different users stay apart, a desktop's
activity is that of its user's projects, deferred writes are never overtaken, and a state the file
system refuses to write stops new work until it can be written again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import duckdb
import pytest

from appliance.errors import StateUnavailable
from appliance.projects import Pod, ProjectRef
from appliance.store import (
    WRITE_BEHIND_SECONDS,
    SessionState,
    Store,
    placed_in_pod,
    project_touched,
    session_recorded,
)


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "state" / "rcoder.duckdb")
    await store.open()
    yield store
    await store.close()


def desktop_row(container_id: str, user_id: str) -> dict:
    return {
        "container_id": container_id,
        "container_name": f"desktop-{user_id}",
        "kind": "desktop",
        "project_id": None,
        "user_id": user_id,
        "pod_id": None,
        "image": "rcoder/desktop:dev",
        "address": "10.0.0.2:50051",
    }


async def test_two_users_projects_of_the_same_id_are_kept_apart(store):
    ann, bob, plain = ProjectRef("p1", "ann"), ProjectRef("p1", "bob"), ProjectRef("p1")
    for ref, session in ((ann, "s-ann"), (bob, "s-bob"), (plain, "s-plain")):
        await store.touch_project(ref)
        await store.record_session(session, ref.key)

    rows = [await store.project(ref.key) for ref in (ann, bob, plain)]

    assert [row.latest_session_id for row in rows] == ["s-ann", "s-bob", "s-plain"]
    assert [row.service_type for row in rows] == ["ComputerAgentRunner", "ComputerAgentRunner", "RCoder"]
    assert ProjectRef.from_key(ann.key) == ann and ProjectRef.from_key(plain.key) == plain


async def test_a_desktop_is_as_recent_as_its_users_latest_project_or_its_own_start(store):
    # Each statement is a transaction of its own, and DuckDB's now() is its start, to the microsecond.
    await store.touch_project(ProjectRef("p1", "ann"))
    await store.record_container(desktop_row("c-ann", "ann"))  # started after the activity
    await store.record_container(desktop_row("c-bob", "bob"))
    await store.touch_project(ProjectRef("p2", "bob"))  # used after the start

    activity = dict(await store.desktops_with_activity())
    ann_started = (await store.project("ann/p1")).last_activity
    bob_used = (await store.project("bob/p2")).last_activity

    assert activity["ann"] > ann_started, "a new desktop counts from its start"
    assert activity["bob"] == bob_used
    await store.container_removed("c-ann")
    assert "ann" not in dict(await store.desktops_with_activity())


async def test_a_pod_is_as_recent_as_its_latest_project_and_keeps_its_projects_places(store):
    pod = {**desktop_row("c-pod", "nobody"), "kind": "pod", "user_id": None, "pod_id": "pod1"}
    await store.record_container(pod)
    for project in ("p1", "p2", "p1"):  # p1 is used last
        await store.touch_project(ProjectRef(project))
        store.defer(placed_in_pod(project, Pod.of("pod1", "acme", "web", project)))

    activity = dict(await store.pods_with_activity())

    assert activity["pod1"] == (await store.project("p1")).last_activity
    assert await store.pods() == {"p1": Pod("pod1", "acme/web/p1"), "p2": Pod("pod1", "acme/web/p2")}
    await store.container_removed("c-pod")
    assert await store.pods_with_activity() == []


async def test_the_turns_of_a_users_desktop_projects_are_found_by_user(store):
    for ref, session in (
        (ProjectRef("p1", "ann"), "s1"),
        (ProjectRef("p2", "ann"), "s2"),
        (ProjectRef("p1"), "s3"),
    ):
        await store.touch_project(ref)
        await store.record_session(session, ref.key)
    await store.write_events(
        [], [SessionState(s, key, in_turn=True) for s, key in (("s1", "ann/p1"), ("s3", "p1"))]
    )

    assert [s.session_id for s in await store.sessions_in_turn(user_id="ann")] == ["s1"]
    assert [s.session_id for s in await store.sessions_in_turn(key="p1")] == ["s3"]
    assert sorted(s.session_id for s in await store.sessions_in_turn()) == ["s1", "s3"]


async def test_a_deferred_write_runs_before_any_later_query_and_on_its_own_soon_after(store):
    ref = ProjectRef("later")
    store.defer(project_touched(ref))
    store.defer(session_recorded("s-1", ref.key))

    row = await store.project(ref.key)  # at once: the query runs the writes deferred before it first

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

    assert (await store.project("after")) is not None
    assert "a deferred write of the state failed" in caplog.text


async def test_a_refused_deferred_write_is_kept_in_order_and_the_state_is_unwritable_until_it_succeeds(store):
    refusals = [duckdb.IOException('Could not write file "state.wal": No space left on device')]

    def refused_once(con) -> None:
        if refusals:
            raise refusals.pop()
        con.execute("INSERT INTO projects (project_id) VALUES ('first')")

    store.defer(refused_once)
    store.defer(project_touched(ProjectRef("second")))
    await store.project("anything")  # runs the deferred writes: the first is refused
    await asyncio.sleep(0)  # the store hears of it on the event loop
    assert store.problem is not None and "No space left on device" in store.problem
    with pytest.raises(StateUnavailable, match=r"cannot write its state .*No space left on device"):
        store.require_writable()

    # Tried again (in order: "second" is not written before "first").
    assert await store.project("first") is not None and await store.project("second") is not None
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
    await store.project("anything")
    await asyncio.sleep(0)

    assert store.problem is not None and "Read-only file system" in store.problem
    assert "restart the gateway" in store.problem
    with pytest.raises(StateUnavailable, match="cannot write its state"):
        store.require_writable()
