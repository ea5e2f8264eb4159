"""The queue's files are personal data (event bodies, dead letters): owner-only, and a warning when not.

A new data directory is created 0700 and a new `queue.db` 0600 before SQLite opens it; SQLite gives its
`-wal` and `-shm` files the database file's mode. Existing files are left as they are (an operator may
share them on purpose, say with a backup group), but each open warns about any that other users can read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_SUFFIXES = ("", "-wal", "-shm")


def create_private(database: Path) -> None:
    """Create `database`'s directory (0700) and the empty file (0600) when they do not exist yet."""
    database.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def warn_if_readable_by_others(database: Path) -> list[Path]:
    """Log a warning for the directory and each file of `database` that group or others can access;
    returns them."""
    loose = []
    for path in (database.parent, *(database.with_name(database.name + s) for s in _SUFFIXES)):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            loose.append(path)
            wanted = DIRECTORY_MODE if path.is_dir() else FILE_MODE
            log.warning(
                "event=loose_permissions path=%s mode=%o: other local users can read the queue's personal "
                "data; chmod %o it",
                path, mode, wanted,
            )  # fmt: skip
    return loose
