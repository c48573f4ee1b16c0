from __future__ import annotations

import errno
import os

import pytest

from tests.unit.runner.files.serving import serving


@pytest.fixture
def served(tmp_path):
    """A files server over tmp_path/root (an empty folder)."""
    root = tmp_path / "root"
    root.mkdir()
    with serving(root) as served:
        yield served


@pytest.fixture
def full_after(monkeypatch, served):
    """Arm it with N: os.write then raises ENOSPC once N bytes were written beneath the root."""

    def arm(limit: int) -> None:
        real, written = os.write, [0]

        def write(fd, data):
            if not os.readlink(f"/proc/self/fd/{fd}").startswith(str(served.root)):
                return real(fd, data)
            if written[0] + len(data) > limit:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written[0] += len(data)
            return real(fd, data)

        monkeypatch.setattr(os, "write", write)

    return arm
