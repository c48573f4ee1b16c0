"""Suite-wide rules: in CI (CI=true) a skipped test is a failure, so an integration test cannot quietly
not run; a test that restarts the Docker engine runs after every other."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    """Tests marked engine_restart stop every container on the engine: they go last."""
    items.sort(key=lambda item: item.get_closest_marker("engine_restart") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which is not allowed: {report.longrepr}"


def pytest_report_header(config):
    """Say which Docker engine the integration tests run against (or that none answers)."""
    try:
        import docker

        version = docker.from_env(timeout=3).version()
    except Exception as exc:  # any failure here only changes the header
        return f"docker engine: none answers ({type(exc).__name__})"
    return f"docker engine: {version['Version']} (API {version['ApiVersion']}, {version['Os']}/{version['Arch']})"
