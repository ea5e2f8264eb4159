"""The SQLite queue's files hold personal data: created owner-only, and a warning when others can read."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_queue_is_owner_only(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    previous = os.umask(0o022)  # the usual umask, under which files were 0644 and directories 0755
    try:
        with caplog.at_level(logging.WARNING):
            store = SQLiteStore(tmp_path / "data" / "queue.db")
            store.append([NewEvent("s", "m", "u", "track", 1.0, b"{}")])
            files = {p.name: mode(p) for p in (tmp_path / "data").iterdir()}
            store.close()
    finally:
        os.umask(previous)
    assert mode(tmp_path / "data") == 0o700
    assert files == {"queue.db": 0o600, "queue.db-wal": 0o600, "queue.db-shm": 0o600}
    assert "loose_permissions" not in caplog.text


def test_readable_files_are_warned_about_at_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "data"
    SQLiteStore(folder / "queue.db").close()
    folder.chmod(0o755)
    (folder / "queue.db").chmod(0o644)
    with caplog.at_level(logging.WARNING):
        SQLiteStore(folder / "queue.db").close()
    warned = [r.getMessage() for r in caplog.records if "loose_permissions" in r.getMessage()]
    assert len(warned) == 2
    assert f"path={folder} mode=755" in warned[0] and "queue.db mode=644" in warned[1]
