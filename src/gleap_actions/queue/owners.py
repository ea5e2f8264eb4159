"""Lease owners: the name a process claims work under, and whether the process behind a name is gone.

An owner is `host:pid:start:nonce`, `start` being the process's start time (clock ticks after boot, from
`/proc/<pid>/stat`). A process of this host that no longer runs cannot renew or finish its leases, so its
work can be released at once instead of after the lease (`SQLiteStore.release_orphans`). The pid alone
cannot say so: a process killed with `kill -9` stays visible as a zombie until its parent reaps it, and a
restarted container's process often gets the dead one's pid (even our own). A pid whose process is a
zombie, or started at another time than the owner's, is gone. Owners on other hosts are always taken as
alive: their leases decide. Names without a start time (written by older versions) are judged by the pid.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path


def process_start(pid: int) -> str | None:
    """The start time of process `pid` as /proc shows it; None when it is gone or a zombie, "" when this
    system has no /proc to tell (then only its existence counts)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else ""
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie or dead: it will never run again
        return None
    return fields[19]  # field 22, starttime


def owner_name() -> str:
    """A unique owner name for this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or 0}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only when `owner` names a process of this host that no longer runs."""
    parts = owner.split(":")
    if len(parts) not in (3, 4) or not parts[1].isdigit() or parts[0] != socket.gethostname():
        return True
    pid = int(parts[1])
    if pid <= 0:
        return True
    start = process_start(pid)
    if start is None:
        return False
    if len(parts) == 4 and start and parts[2] != "0":
        return parts[2] == start  # another start time: the pid was reused by another process
    if pid == os.getpid():
        return True
    return _exists(pid)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
