"""`make soak` in miniature (bench/soak.py): projects and desktops come and go in waves, and nothing of
theirs is left, no request fails, and the gateway's open files and memory stay near where they were."""

from __future__ import annotations

import pytest

from bench.soak import soak

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def test_churn_leaves_nothing_behind(engine):
    result = soak(engine, projects=12, desktops=2, concurrency=4)

    assert result["failures"] == []
    assert result["left_over"]["containers"] == [] and result["left_over"]["volumes"] == []
    assert len(result["left_over"]["networks"]) == 2, "the stack's own two, and no other"
    before, after = result["gateway_before"], result["gateway_after"]
    # The engine client keeps a pool of connections per worker thread: bounded, not one per project.
    assert after["fds"] <= before["fds"] + 100, (before, after)
    assert after["memory"] <= before["memory"] + 64 * 2**20, (before, after)
