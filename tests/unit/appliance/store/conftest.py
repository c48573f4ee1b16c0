"""A store on a real DuckDB file, opened for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from appliance.store import Store


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "state" / "rcoder.duckdb")
    await store.open()
    yield store
    await store.close()
