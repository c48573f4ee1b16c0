"""`make bench` in miniature (`bench.run --smoke`), so that no benchmark rots: every figure runs
against its own fresh appliance and lands in the JSON with its baseline. It asserts no timing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.stack import ROOT

pytestmark = [pytest.mark.engine, pytest.mark.timeout(1200)]

FIGURES = {
    "new project (warm pool of 2)": ("floor", "first_event", "burst", "ratios"),
    "new project (no warm pool)": ("floor", "first_event", "burst", "ratios"),
    "warm turn (first event)": ("gateway", "direct_grpc", "added_ms"),
    "desktop": ("ensure_to_vnc_ready", "computer_chat_first_event"),
    "idle memory (cgroup)": ("agent", "desktop"),
    "resume an idle project": ("first_event", "idle_state"),
    "proxy (1 KiB responses)": (
        "static, straight",
        "plain nginx, keepalive pool",
        "plain nginx, to the project's server",
        "appliance proxy, API key",
        "appliance proxy, project token",
        "websocket echo, plain nginx",
        "websocket echo, appliance proxy",
        "ratios",
    ),
    "SSE fan-out (20 clients on one turn; 50 held open)": ("live", "held"),
}


def test_every_benchmark_runs_and_records_its_figures(tmp_path, engine):
    assert shutil.which("wrk"), "the proxy benchmark's load generator (scripts/test installs Debian's wrk)"
    results = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--json", str(results)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    figures = json.loads(results.read_text())["figures"]
    assert set(figures) == set(FIGURES)
    for name, keys in FIGURES.items():
        assert set(keys) <= set(figures[name]), (name, figures[name])
    assert figures["idle memory (cgroup)"]["agent"]["working_set"] > 0
    assert figures["resume an idle project"]["idle_state"] == ["paused"]
    fanout = figures["SSE fan-out (20 clients on one turn; 50 held open)"]
    assert fanout["live"]["all_reached_the_end"] and fanout["held"]["with_a_heartbeat"] == 50
    assert "RCoder benchmarks" in run.stdout and "first event p50 / floor" in run.stdout
