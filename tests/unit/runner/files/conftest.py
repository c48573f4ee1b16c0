from __future__ import annotations

import pytest

from tests.unit.runner.files.serving import serving


@pytest.fixture
def served(tmp_path):
    """A files server over tmp_path/root (an empty folder)."""
    root = tmp_path / "root"
    root.mkdir()
    with serving(root) as served:
        yield served
