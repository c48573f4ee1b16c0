"""appliance/store/containers.py on a real DuckDB file: a desktop's activity is that of its user's
projects, and a pod's that of its projects."""

from __future__ import annotations

from appliance.projects import Pod, ProjectRef
from appliance.store.projects import placed_in_pod


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


async def test_a_desktop_is_as_recent_as_its_users_latest_project_or_its_own_start(store):
    # Each statement is a transaction of its own, and DuckDB's now() is its start, to the microsecond.
    await store.projects.touch(ProjectRef("p1", "ann"))
    await store.containers.record(desktop_row("c-ann", "ann"))  # started after the activity
    await store.containers.record(desktop_row("c-bob", "bob"))
    await store.projects.touch(ProjectRef("p2", "bob"))  # used after the start

    activity = dict(await store.containers.desktops_with_activity())
    ann_started = (await store.projects.get("ann/p1")).last_activity
    bob_used = (await store.projects.get("bob/p2")).last_activity

    assert activity["ann"] > ann_started, "a new desktop counts from its start"
    assert activity["bob"] == bob_used
    await store.containers.removed("c-ann")
    assert "ann" not in dict(await store.containers.desktops_with_activity())


async def test_a_pod_is_as_recent_as_its_latest_project_and_keeps_its_projects_places(store):
    pod = {**desktop_row("c-pod", "nobody"), "kind": "pod", "user_id": None, "pod_id": "pod1"}
    await store.containers.record(pod)
    for project in ("p1", "p2", "p1"):  # p1 is used last
        await store.projects.touch(ProjectRef(project))
        store.defer(placed_in_pod(project, Pod.of("pod1", "acme", "web", project)))

    activity = dict(await store.containers.pods_with_activity())

    assert activity["pod1"] == (await store.projects.get("p1")).last_activity
    assert await store.projects.pods() == {"p1": Pod("pod1", "acme/web/p1"), "p2": Pod("pod1", "acme/web/p2")}
    await store.containers.removed("c-pod")
    assert await store.containers.pods_with_activity() == []
