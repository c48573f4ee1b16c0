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
    "files: archive of 20 MB in 200 files": (
        "tar",
        "docker cp",
        "tar.gz",
        "zip",
        "tar_vs_docker_cp",
        "cold",
        "workspace",
    ),
    "files: one 1 MiB file, 30 GETs on one connection": ("files API", "http.server", "p50_vs_http_server"),
    "terminal echo (30 keys, one byte each)": ("terminal", "echo server", "p50_vs_echo_server"),
    "new project on a template (debian:bookworm-slim, the runner brought in)": (
        "floor",
        "first_event_pool",
        "first_event_no_pool",
        "memory",
        "ratios",
        "bundle_added_bytes",
    ),
}
ARCHIVE, FILE, TERMINAL, TEMPLATE = list(FIGURES)[-4:]


def test_every_benchmark_runs_and_records_its_figures(tmp_path, engine):
    assert shutil.which("wrk"), "the proxy benchmark's load generator (scripts/test installs Debian's wrk)"
    assert shutil.which("curl"), "what reads the files benchmark's archives"
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
    archive = figures[ARCHIVE]
    for name in ("tar", "docker cp", "tar.gz", "zip"):
        assert archive[name]["mb_per_s"] > 0 and archive[name]["bytes"] > 0, (name, archive[name])
    assert archive["tar"]["bytes"] > archive["workspace"]["bytes"] == 200 * 100 * 1024
    assert archive["tar_vs_docker_cp"] > 0 and archive["cold"]["first_byte_s"] > 0
    assert archive["cold"]["files_container_start_s"] > 0
    for figure, names in ((FILE, ("files API", "http.server")), (TERMINAL, ("terminal", "echo server"))):
        for name in names:
            assert figures[figure][name]["n"] == 30 and figures[figure][name]["p50"] > 0, figures[figure]
    template = figures[TEMPLATE]
    assert template["memory"]["template"]["working_set"] > 0 and template["ratios"]["pool_p50_over_floor"] > 0
    assert "RCoder benchmarks" in run.stdout and "first event p50 / floor" in run.stdout
