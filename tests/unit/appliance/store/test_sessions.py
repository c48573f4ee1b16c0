"""appliance/store/sessions.py on a real DuckDB file: the sessions in a turn, found by project or user."""

from __future__ import annotations

from appliance.projects import ProjectRef
from appliance.store import SessionState


async def test_the_turns_of_a_users_desktop_projects_are_found_by_user(store):
    for ref, session in (
        (ProjectRef("p1", "ann"), "s1"),
        (ProjectRef("p2", "ann"), "s2"),
        (ProjectRef("p1"), "s3"),
    ):
        await store.projects.touch(ref)
        await store.sessions.record(session, ref.key)
    await store.sessions.write_events(
        [], [SessionState(s, key, in_turn=True) for s, key in (("s1", "ann/p1"), ("s3", "p1"))]
    )

    assert [s.session_id for s in await store.sessions.in_turn(user_id="ann")] == ["s1"]
    assert [s.session_id for s in await store.sessions.in_turn(key="p1")] == ["s3"]
    assert sorted(s.session_id for s in await store.sessions.in_turn()) == ["s1", "s3"]
