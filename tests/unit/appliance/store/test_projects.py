"""appliance/store/projects.py on a real DuckDB file: projects of different users stay apart."""

from __future__ import annotations

from appliance.projects import ProjectRef


async def test_two_users_projects_of_the_same_id_are_kept_apart(store):
    ann, bob, plain = ProjectRef("p1", "ann"), ProjectRef("p1", "bob"), ProjectRef("p1")
    for ref, session in ((ann, "s-ann"), (bob, "s-bob"), (plain, "s-plain")):
        await store.projects.touch(ref)
        await store.sessions.record(session, ref.key)

    rows = [await store.projects.get(ref.key) for ref in (ann, bob, plain)]

    assert [row.latest_session_id for row in rows] == ["s-ann", "s-bob", "s-plain"]
    assert [row.service_type for row in rows] == ["ComputerAgentRunner", "ComputerAgentRunner", "RCoder"]
    assert ProjectRef.from_key(ann.key) == ann and ProjectRef.from_key(plain.key) == plain
