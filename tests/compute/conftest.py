"""Fixtures of the computer's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gleap_actions.queue.factory import open_store
from gleap_actions.queue.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A real store of each backend."""
    location = (
        str(tmp_path / "q.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    backend = open_store(location)
    yield backend.store
    backend.close()
