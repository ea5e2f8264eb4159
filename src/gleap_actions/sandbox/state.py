"""What the sandbox has received: contacts, the identifies applied to each, track events per user, and
the request log.

Everything is in memory and guarded by one lock, so a test thread can read while the server's event loop
writes. Per-request work is kept small: events are stored as compact JSON bytes (as sent, key order
kept), duplicates (same user, name, date and data) are counted on arrival through a digest of the
event's canonical form, and the request log keeps only the last N requests next to counters of all.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

REDACTED = "***"


@dataclass(frozen=True)
class RecordedRequest:
    """One request received on the Gleap API. `status` is None when no answer was sent (a held timeout
    or a connection dropped during an outage); `fault` names the injected fault that decided the answer.
    The `Api-Token` header is stored as `***`; `token_ok` says whether it matched."""

    seq: int
    time: float
    method: str
    path: str
    endpoint: str
    status: int | None
    fault: str | None
    token_ok: bool
    headers: dict[str, str]
    body: bytes

    def json_body(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view: the body parsed when it is JSON, else as text."""
        body: Any = self.json_body()
        if body is None and self.body:
            body = self.body.decode("utf-8", "replace")
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "status": self.status,
            "fault": self.fault,
            "token_ok": self.token_ok,
            "headers": self.headers,
            "body": body,
        }


@dataclass(frozen=True)
class SandboxStats:
    """Counters over everything received since start or the last reset."""

    requests: int
    requests_by_endpoint: dict[str, int]
    requests_by_status: dict[str, int]
    events: int
    unique_events: int
    duplicate_events: int
    users_with_events: int
    contacts: int
    contacts_deleted: int
    identifies: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the counters."""
        return dict(self.__dict__)


@dataclass
class _Data:
    requests: deque[RecordedRequest]
    request_seq: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    events: dict[str, list[bytes]] = field(default_factory=dict)
    event_total: int = 0
    seen: dict[bytes, int] = field(default_factory=dict)
    duplicate_total: int = 0
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    identify_log: dict[str, list[bytes]] = field(default_factory=dict)
    contacts_deleted: int = 0
    identifies: int = 0


def _digest(event: dict[str, Any]) -> bytes:
    """The identity of an event for duplicate counting: its canonical JSON (sorted keys), hashed."""
    return hashlib.blake2b(orjson.dumps(event, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


class SandboxState:
    """The sandbox's memory. Safe to read from any thread; every reader returns a copy."""

    def __init__(self, request_log_size: int = 1000) -> None:
        if request_log_size < 0:
            raise ValueError("request_log_size must be >= 0")
        self._lock = threading.Lock()
        self._log_size = request_log_size
        self._data = _Data(requests=deque(maxlen=request_log_size))

    # Writers (called by the server).

    def record_request(
        self,
        *,
        time: float,
        method: str,
        path: str,
        endpoint: str,
        status: int | None,
        fault: str | None,
        token_ok: bool,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        """Count a request and keep it in the bounded log."""
        with self._lock:
            data = self._data
            data.request_seq += 1
            data.by_endpoint[endpoint] += 1
            data.by_status[str(status) if status is not None else "none"] += 1
            if self._log_size:
                data.requests.append(
                    RecordedRequest(
                        data.request_seq, time, method, path, endpoint, status, fault, token_ok, headers, body
                    )
                )

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Store validated track events (per user, as sent) and count duplicates."""
        # orjson's output keeps a 4 KiB buffer; an exact-size copy is what we keep.
        encoded = [
            (event["userId"], bytes(memoryview(orjson.dumps(event))), _digest(event)) for event in events
        ]
        with self._lock:
            data = self._data
            for user_id, raw, digest in encoded:
                data.events.setdefault(user_id, []).append(raw)
                seen = data.seen.get(digest, 0)
                if seen:
                    data.duplicate_total += 1
                data.seen[digest] = seen + 1
            data.event_total += len(encoded)

    def identify(self, user_id: str, attributes: dict[str, Any], body: bytes | None = None) -> None:
        """Create the contact or update it as Gleap does: each key sent replaces the stored value, keys
        not sent are kept. The identify (`body`, else the attributes as JSON) is logged per contact."""
        raw = bytes(body) if body is not None else orjson.dumps(attributes)
        with self._lock:
            self._data.identifies += 1
            self._data.contacts.setdefault(user_id, {}).update(attributes)
            self._data.identify_log.setdefault(user_id, []).append(raw)

    def delete_contact(self, user_id: str) -> bool:
        """Remove a contact; False when there was none. Its track events stay (they were received)."""
        with self._lock:
            if self._data.contacts.pop(user_id, None) is None:
                return False
            self._data.contacts_deleted += 1
            return True

    def reset(self) -> None:
        """Forget everything received."""
        with self._lock:
            self._data = _Data(requests=deque(maxlen=self._log_size))

    # Readers.

    def stats(self) -> SandboxStats:
        """Counters over everything received."""
        with self._lock:
            data = self._data
            return SandboxStats(
                requests=data.request_seq,
                requests_by_endpoint=dict(data.by_endpoint),
                requests_by_status=dict(data.by_status),
                events=data.event_total,
                unique_events=len(data.seen),
                duplicate_events=data.duplicate_total,
                users_with_events=len(data.events),
                contacts=len(data.contacts),
                contacts_deleted=data.contacts_deleted,
                identifies=data.identifies,
            )

    def requests(self, limit: int | None = None, endpoint: str | None = None) -> list[RecordedRequest]:
        """The most recent logged requests (oldest first), optionally of one endpoint."""
        with self._lock:
            logged = list(self._data.requests)
        if endpoint is not None:
            logged = [r for r in logged if r.endpoint == endpoint]
        if limit is not None:
            logged = logged[-limit:] if limit > 0 else []
        return logged

    def request_count(self, endpoint: str | None = None) -> int:
        """How many requests were received (all of them, not only the logged ones)."""
        with self._lock:
            return self._data.request_seq if endpoint is None else self._data.by_endpoint[endpoint]

    def contacts(self) -> dict[str, dict[str, Any]]:
        """Every contact by user id (copies)."""
        with self._lock:
            return {user_id: dict(attrs) for user_id, attrs in self._data.contacts.items()}

    def contact(self, user_id: str) -> dict[str, Any] | None:
        """One contact's attributes, or None."""
        with self._lock:
            attrs = self._data.contacts.get(user_id)
            return dict(attrs) if attrs is not None else None

    def identifies(self, user_id: str) -> list[dict[str, Any]]:
        """The identifies applied to one contact, in arrival order (an identify Gleap refused is not
        among them; every request is in the request log)."""
        with self._lock:
            raws = list(self._data.identify_log.get(user_id, ()))
        return [orjson.loads(raw) for raw in raws]

    def identify_counts(self) -> dict[str, int]:
        """How many identifies were applied to each contact."""
        with self._lock:
            return {user_id: len(log) for user_id, log in self._data.identify_log.items()}

    def events(self, user_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Track events as sent, in arrival order per user (users in order of first event)."""
        with self._lock:
            if user_id is not None:
                raws = list(self._data.events.get(user_id, ()))
            else:
                raws = [raw for per_user in self._data.events.values() for raw in per_user]
        if limit is not None:
            raws = raws[:limit]
        return [orjson.loads(raw) for raw in raws]

    def event_count(self, user_id: str | None = None) -> int:
        """How many track events were received (duplicates included)."""
        with self._lock:
            if user_id is None:
                return self._data.event_total
            return len(self._data.events.get(user_id, ()))

    def event_figures(self, user_id: str | None = None) -> dict[str, int]:
        """`total`, `unique`, `duplicates` and `users` of the track events received, of one user if given."""
        if user_id is None:
            stats = self.stats()
            return {
                "total": stats.events,
                "unique": stats.unique_events,
                "duplicates": stats.duplicate_events,
                "users": stats.users_with_events,
            }
        with self._lock:
            raws = list(self._data.events.get(user_id, ()))
        unique = len({_digest(orjson.loads(raw)) for raw in raws})
        total = len(raws)
        return {"total": total, "unique": unique, "duplicates": total - unique, "users": int(total > 0)}

    def duplicate_count(self) -> int:
        """How many received events repeat an earlier one (same user, name, date and data)."""
        with self._lock:
            return self._data.duplicate_total

    def duplicates(self) -> list[tuple[dict[str, Any], int]]:
        """Each event received more than once, with how many times it was received."""
        with self._lock:
            repeated = {digest: n for digest, n in self._data.seen.items() if n > 1}
            raws = [raw for per_user in self._data.events.values() for raw in per_user] if repeated else []
        out: list[tuple[dict[str, Any], int]] = []
        for raw in raws:
            event = orjson.loads(raw)
            count = repeated.pop(_digest(event), 0)
            if count:
                out.append((event, count))
        return out
