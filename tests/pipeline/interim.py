"""Interim stand-ins for parts built in parallel (SQLite store, Subscription, gleap client), used by the
pipeline tests only until those land in main; then the tests switch to the real ones."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError
from gleap_actions.pipeline.store import DeadLetter, Delivery, NewEvent, QueueStats, StoredEvent


@dataclass
class _Row:
    event_id: int
    mapping: str
    state: str = "pending"  # pending | in_flight | done | dead
    owner: str | None = None
    lease_until: float = 0.0
    due: float = 0.0
    attempts: int = 0
    first_attempt_at: float | None = None


@dataclass
class MemoryStore:
    events: dict[int, tuple[NewEvent, str]] = field(default_factory=dict)  # id -> (event, state)
    rows: dict[int, _Row] = field(default_factory=dict)
    dead: dict[int, DeadLetter] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def append(self, events: Sequence[NewEvent], *, dedup_window: float = 86400.0) -> list[bool]:
        with self.lock:
            for e in events:
                self.events[self._id()] = (e, "unrouted")
            return [True] * len(events)

    def claim_unrouted(self, owner: str, limit: int, lease: float) -> list[StoredEvent]:
        with self.lock:
            out = []
            for i, (e, state) in self.events.items():
                if state == "unrouted" and len(out) < limit:
                    self.events[i] = (e, "claimed")
                    out.append(StoredEvent(i, e.received_at, e.payload))
            return out

    def route(self, routes: Sequence[tuple[int, Sequence[str]]]) -> None:
        with self.lock:
            for event_id, names in routes:
                self.events[event_id] = (self.events[event_id][0], "routed")
                for name in names:
                    self.rows[self._id()] = _Row(event_id, name)

    def claim_deliveries(
        self, owner: str, mapping: str, limit: int, lease: float, now: float
    ) -> list[Delivery]:
        with self.lock:
            out = []
            for i, r in self.rows.items():
                if len(out) >= limit:
                    break
                free = r.state == "pending" or (r.state == "in_flight" and r.lease_until <= now)
                if r.mapping == mapping and free and r.due <= now:
                    r.state, r.owner, r.lease_until = "in_flight", owner, now + lease
                    e = self.events[r.event_id][0]
                    out.append(
                        Delivery(
                            i, r.event_id, mapping, r.attempts, r.first_attempt_at, e.received_at, e.payload
                        )
                    )
            return out

    def due_mappings(self, now: float) -> dict[str, int]:
        raise NotImplementedError

    def ack(self, delivery_ids: Sequence[int]) -> None:
        with self.lock:
            for i in delivery_ids:
                self.rows[i].state = "done"

    def retry(self, delivery_ids: Sequence[int], *, at: float, error: str, now: float) -> None:
        with self.lock:
            for i in delivery_ids:
                r = self.rows[i]
                r.state, r.due, r.attempts = "pending", at, r.attempts + 1
                r.first_attempt_at = r.first_attempt_at or now

    def release(self, delivery_ids: Sequence[int]) -> None:
        with self.lock:
            for i in delivery_ids:
                if self.rows[i].state == "in_flight":
                    self.rows[i].state = "pending"

    def dead_letter(
        self, delivery_ids: Sequence[int], *, reason: str, status: int | None, request: str, response: str
    ) -> None:
        with self.lock:
            for i in delivery_ids:
                r = self.rows.pop(i)
                e = self.events[r.event_id][0]
                self.dead[i] = DeadLetter(
                    i,
                    r.event_id,
                    r.mapping,
                    reason,
                    status,
                    request,
                    response,
                    0.0,
                    r.attempts + 1,
                    e.payload,
                )

    def list_dead_letters(
        self, *, mapping: str | None = None, limit: int = 100, after_id: int = 0
    ) -> list[DeadLetter]:
        with self.lock:
            return [d for d in self.dead.values() if mapping in (None, d.mapping)][:limit]

    def replay_dead_letters(self, ids: Sequence[int] | None = None, *, mapping: str | None = None) -> int:
        with self.lock:
            n = 0
            for i in list(self.dead):
                d = self.dead.pop(i)
                self.rows[self._id()] = _Row(d.event_id, d.mapping)
                n += 1
            return n

    def stats(self, now: float) -> QueueStats:
        with self.lock:
            states = [r.state for r in self.rows.values()]
            return QueueStats(
                unrouted=sum(1 for _, s in self.events.values() if s != "routed"),
                pending=states.count("pending"),
                retrying=sum(1 for r in self.rows.values() if r.state == "pending" and r.attempts),
                in_flight=states.count("in_flight"),
                dead_letters=len(self.dead),
                oldest_pending_age=0.0,
            )

    def purge_delivered(self, older_than: float, *, limit: int = 10000) -> int:
        return 0

    def drop_user(self, user_id: str) -> int:
        raise NotImplementedError

    def get_dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        return self.dead.get(dead_letter_id)

    def purge_dead_letters(self, ids: Sequence[int] | None = None, *, mapping: str | None = None) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None

    def redacted(self) -> Req:
        return Req(self.method, self.url, {**self.headers, "Api-Token": "***"}, self.body)

    def to_json(self) -> str:
        body = None if self.body is None else orjson.loads(self.body)
        return orjson.dumps(
            {"method": self.method, "url": self.url, "headers": self.headers, "body": body}
        ).decode()


@dataclass(frozen=True)
class PReq:
    request: Req
    indices: list[int]


@dataclass(frozen=True)
class Rej:
    index: int
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class PlanV:
    requests: list[PReq]
    rejections: list[Rej]


@dataclass(frozen=True)
class Settings:
    api_token: str
    base_url: str
    timeout: float = 2.0


@dataclass(frozen=True)
class TrackSub:
    """Track events to POST /admin/track; events without `event` are rejected."""

    name: str = "Track Event"
    enabled: bool = True
    batching: bool = True
    batch_size: int = 100

    def matches(self, event: Mapping[str, Any]) -> bool:
        return event.get("type") == "track"

    def plan(self, events: Sequence[dict[str, Any]], settings: Settings, batch: bool) -> PlanV:
        good = []
        rejections = []
        for i, e in enumerate(events):
            if not e.get("event"):
                rejections.append(
                    Rej(i, 400, "PAYLOAD_VALIDATION_FAILED", "The root value is missing 'name'.")
                )
            else:
                good.append(i)
        headers = {"Api-Token": settings.api_token, "Content-Type": "application/json"}
        url = settings.base_url + "/admin/track"

        def req(idx: list[int]) -> PReq:
            body = [{"name": events[i]["event"], "userId": events[i].get("userId")} for i in idx]
            return PReq(Req("POST", url, headers, orjson.dumps({"events": body})), idx)

        size = self.batch_size if batch else 1
        return PlanV([req(good[k : k + size]) for k in range(0, len(good), size)], rejections)


@dataclass(frozen=True)
class Resp:
    status: int
    body: bytes


async def send(session: aiohttp.ClientSession, request: Any, timeout: float) -> Resp:
    try:
        async with session.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as r:
            body = await r.read()
    except (aiohttp.ClientError, TimeoutError) as err:
        raise RetryableError(f"network error: {type(err).__name__}") from err
    if 200 <= r.status < 300:
        return Resp(r.status, body)
    if r.status in (401, 403):
        raise InvalidCredentialsError("invalid credentials", status=r.status)
    if r.status in (408, 423, 429) or (r.status >= 500 and r.status != 501):
        ra = r.headers.get("Retry-After")
        raise RetryableError(f"status {r.status}", status=r.status, retry_after=float(ra) if ra else None)
    raise FinalHTTPError(f"status {r.status}", status=r.status, body=body.decode())


def delivery_enabled(event: Mapping[str, Any]) -> bool:
    integrations = event.get("integrations") or {}
    return bool(integrations.get("Gleap (Action)", integrations.get("All", True)))
