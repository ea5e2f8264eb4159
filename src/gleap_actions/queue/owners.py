"""Lease owners: the name a process claims work under, and whether the process behind a name is gone.

An owner is `host:pid:nonce`. A process on this host whose pid no longer exists cannot renew or finish its
leases, so its work can be released at once instead of after the lease (`SQLiteStore.release_orphans`).
Owners on other hosts, and our own pid, are always taken as alive: their leases decide.
"""

from __future__ import annotations

import os
import socket
import uuid


def owner_name() -> str:
    """A unique owner name for this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only when `owner` names a process of this host that no longer exists."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[0] != socket.gethostname():
        return True
    pid = int(parts[1])
    if pid == os.getpid() or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
