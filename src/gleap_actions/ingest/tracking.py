"""Segment's HTTP tracking API: `POST /v1/{track,identify,page,screen,group,alias,batch,import}`, and the
short paths analytics.js and the mobile libraries use: `/v1/{t,i,p,s,g,a}` (one call) and `/v1/b` (a batch).

One request: authenticate (write key by HTTP Basic, key as user and empty password, or `writeKey` in the body;
when both are given the header wins) -> read the body within the limits (gzip allowed) -> parse -> normalise
each event (`events.normalize`; on a node that also delivers, decide its route: `route`) -> commit through
the group committer -> `200 {"success": true}`.

Answers:
- 200 only once every accepted event is committed. In a batch, events that break Segment's rules (no user,
  track without `event`...) are left out and listed in `"rejected"`; if none is valid the answer is 400.
- 400 `{"code", "message"}` for bad bodies: limits (32 KB per event, 500 KB per batch, 2,500 events per
  batch), malformed JSON or UTF-8, bad gzip, wrong types; 401 for a missing or unknown write key (when write
  keys are configured; otherwise any key is accepted); 429 + Retry-After when too much waits to be committed
  or the write key is over its rate limit (`ratelimit`); 503 + Retry-After when the store cannot write.
  Never 200 for an event that was not kept.

The body's Content-Type is not looked at: browsers send JSON as `text/plain` (no CORS preflight needed for
`sendBeacon`), with the write key in the body.

The stored `source` is a hash of the write key, never the key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry

from gleap_actions.events import CALL_TYPES, EventError, encode, normalize
from gleap_actions.ingest.committer import IngestCommitter, Overloaded
from gleap_actions.ingest.limits import BadRequest, IngestLimits, read_body
from gleap_actions.ingest.metrics import IngestMetrics
from gleap_actions.ingest.ratelimit import WriteKeyRateLimit
from gleap_actions.queue.store import DEFAULT_DEDUP_WINDOW, NewEvent, Route, Store, StoreFullError

log = logging.getLogger(__name__)

OVERLOAD_RETRY_AFTER = "1"
STORE_FULL_RETRY_AFTER = "5"
_SUCCESS = orjson.dumps({"success": True})
# analytics.js posts each call to its type's first letter, batches (and the mobile libraries) to `b`.
SHORT_PATHS = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias"}

Handler = Callable[[web.Request], Awaitable[web.Response]]
OnCommit = Callable[[Sequence[NewEvent], Sequence[bool]], None]


def _ignore(events: Sequence[NewEvent], accepted: Sequence[bool]) -> None:
    """The default `on_commit`: nothing to tell."""


class Unauthorized(Exception):
    """No valid write key: 401."""


class ServerSettings(Protocol):
    """The part of `config.ServerConfig` ingest reads."""

    @property
    def write_keys(self) -> Sequence[str]: ...

    @property
    def events_per_second(self) -> float: ...

    @property
    def burst(self) -> int: ...

    @property
    def body_timeout(self) -> float: ...


class StorageSettings(Protocol):
    """The part of `config.StorageConfig` ingest reads."""

    @property
    def dedup_window(self) -> float: ...


@functools.lru_cache(maxsize=1024)
def source_id(write_key: str) -> str:
    """The stable id stored with events for a write key: a hash, so the key itself is never stored."""
    return hashlib.sha256(b"gleap-actions write key\0" + write_key.encode()).hexdigest()[:24]


def _basic_auth_key(request: web.Request) -> str | None:
    """The write key from `Authorization: Basic base64(key:)`, or None when there is no Basic header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic Authorization header") from None
    return decoded.partition(":")[0] or None


def _json_response(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json_response(status, {"code": code, "message": message}, headers)


class TrackingAPI:
    """The tracking API endpoints with their store, committer, limits and counters.

    `add_routes(app)` mounts the endpoints and starts/stops the committer with the app. `write_keys` empty
    means any key is accepted. Register `client_max_size` on the app as you like: bodies are read here
    with their own caps. On a node that also delivers, `route` decides each event's route before it is
    stored, and `on_commit(events, accepted)` hears of every commit (to count routes, wake delivery).
    """

    def __init__(
        self,
        store: Store,
        *,
        write_keys: Iterable[str] = (),
        limits: IngestLimits | None = None,
        dedup_window: float = DEFAULT_DEDUP_WINDOW,
        registry: CollectorRegistry | None = None,
        max_queued_events: int = 50_000,
        rate_limit: WriteKeyRateLimit | None = None,
        route: Callable[[dict[str, Any], str], Route] | None = None,
        on_commit: OnCommit | None = None,
    ) -> None:
        self.store = store
        self.limits = limits or IngestLimits()
        self._sources = frozenset(source_id(key) for key in write_keys if key)
        self.committer = IngestCommitter(
            store, dedup_window=dedup_window, max_queued_events=max_queued_events
        )
        self.metrics = IngestMetrics(registry if registry is not None else CollectorRegistry())
        self.rate_limit = rate_limit
        # Given by a node that also delivers: each event's route is decided here and stored with it.
        self.route = route
        # Called with the events and `append`'s results once committed: e.g. wake delivery, count routes.
        self.on_commit: OnCommit = on_commit or _ignore

    @property
    def overloaded(self) -> bool:
        """More events wait to be committed than the committer accepts: new ones get 429."""
        return self.committer.queued_events >= self.committer.max_queued_events

    @classmethod
    def from_config(
        cls,
        store: Store,
        server: ServerSettings,
        storage: StorageSettings,
        *,
        registry: CollectorRegistry | None = None,
        route: Callable[[dict[str, Any], str], Route] | None = None,
        on_commit: OnCommit | None = None,
    ) -> TrackingAPI:
        """The service as configured by `Config.server` and `Config.storage`; `route` and `on_commit`
        as for the constructor."""
        rate_limit = None
        if server.events_per_second > 0:
            rate_limit = WriteKeyRateLimit(server.events_per_second, server.burst)
        return cls(
            store,
            write_keys=server.write_keys,
            limits=IngestLimits(body_timeout=server.body_timeout),
            dedup_window=storage.dedup_window,
            registry=registry,
            rate_limit=rate_limit,
            route=route,
            on_commit=on_commit,
        )

    def add_routes(self, app: web.Application) -> None:
        """Mount `/v1/*` on `app` and tie the committer to the app's startup and cleanup."""
        for call_type in sorted(CALL_TYPES):
            app.router.add_post(f"/v1/{call_type}", self._handler(call_type, call_type))
        app.router.add_post("/v1/batch", self._handler(None, "batch"))
        app.router.add_post("/v1/import", self._handler(None, "import"))  # legacy alias of /v1/batch
        for letter, call_type in SHORT_PATHS.items():
            app.router.add_post(f"/v1/{letter}", self._handler(call_type, call_type))
        app.router.add_post("/v1/b", self._handler(None, "batch"))
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)

    def start(self) -> None:
        """Start committing (done by the app's startup when mounted with add_routes)."""
        self.committer.start()

    async def stop(self) -> None:
        """Commit what is queued and stop."""
        await self.committer.stop()

    async def _on_startup(self, _app: web.Application) -> None:
        self.start()

    async def _on_cleanup(self, _app: web.Application) -> None:
        await self.stop()

    def _handler(self, call_type: str | None, endpoint: str) -> Handler:
        """The handler of one endpoint (`call_type` None: a batch)."""

        async def handle(request: web.Request) -> web.Response:
            response = await self._handle(request, call_type)
            self.metrics.requests.labels(endpoint, str(response.status)).inc()
            return response

        return handle

    def set_write_keys(self, write_keys: Iterable[str]) -> None:
        """Accept these write keys from now on (a reload); none: any key."""
        self._sources = frozenset(source_id(key) for key in write_keys if key)

    def _source(self, key: object) -> str:
        """The source id for a write key, or Unauthorized."""
        if not isinstance(key, str) or not key:
            if self._sources:
                raise Unauthorized("missing write key (HTTP Basic username or writeKey in the body)")
            key = ""
        source = source_id(key)
        if self._sources and source not in self._sources:
            raise Unauthorized("unknown write key")
        return source

    async def _handle(self, request: web.Request, call_type: str | None) -> web.Response:
        received_at = time.time()
        try:
            events, rejected = await self._read_events(request, call_type, received_at)
        except BadRequest as exc:
            self.metrics.rejected.labels(exc.code).inc()
            response = _error(exc.status, exc.code, exc.message)
            if exc.close_connection:
                response.force_close()
            return response
        except EventError as exc:
            self.metrics.rejected.labels(exc.code).inc()
            return _error(400, exc.code, exc.message)
        except Unauthorized as exc:
            self.metrics.rejected.labels("unauthorized").inc()
            return _error(401, "unauthorized", str(exc))
        if self.rate_limit is not None:
            wait = self.rate_limit.admit(events[0].source, len(events), time.monotonic())
            if wait is not None:
                self.metrics.rejected.labels("rate_limited").inc(len(events))
                return _error(
                    429,
                    "rate_limited",
                    f"this write key sends more than {self.rate_limit.events_per_second:g} events per second;"
                    f" retry in {wait} s",
                    {"Retry-After": str(wait)},
                )
        try:
            results = await self.committer.submit(events)
        except Overloaded:
            self.metrics.rejected.labels("overloaded").inc(len(events))
            return _error(
                429,
                "overloaded",
                "too many events waiting; retry later",
                {"Retry-After": OVERLOAD_RETRY_AFTER},
            )
        except StoreFullError as exc:
            log.error("ingest: the store cannot write, answering 503: %s", exc)
            self.metrics.rejected.labels("store_unavailable").inc(len(events))
            return _error(
                503, "store_unavailable", "events cannot be stored right now; retry later",
                {"Retry-After": STORE_FULL_RETRY_AFTER},
            )  # fmt: skip
        except Exception:  # the events were not kept (the committer logged why, once per group): retry
            self.metrics.rejected.labels("store_error").inc(len(events))
            return _error(
                503, "store_error", "events could not be stored; retry later",
                {"Retry-After": STORE_FULL_RETRY_AFTER},
            )  # fmt: skip
        self._count(events, results, rejected)
        self.on_commit(events, results)
        if rejected:
            return _json_response(200, {"success": True, "rejected": rejected})
        return web.Response(body=_SUCCESS, content_type="application/json")

    async def _read_events(
        self, request: web.Request, call_type: str | None, received_at: float
    ) -> tuple[list[NewEvent], list[dict[str, Any]]]:
        """Authenticate, read, parse and normalise: the events to commit and the rejected batch items."""
        header_key = _basic_auth_key(request)
        if header_key is not None:
            self._source(header_key)  # refuse an unknown key before reading the body
        if call_type is None:
            body = await read_body(request, self.limits.max_batch_bytes, "batch", self.limits.body_timeout)
        else:
            body = await read_body(request, self.limits.max_event_bytes, "event", self.limits.body_timeout)
        data = _parse(body)
        source = self._source(header_key if header_key is not None else data.get("writeKey"))
        if call_type is None:
            return self._batch(data, source, received_at)
        return [self._event(data, call_type, source, received_at, None, None)], []

    def _event(
        self,
        raw: object,
        call_type: str | None,
        source: str,
        received_at: float,
        batch_context: dict[str, Any] | None,
        index: int | None,
    ) -> NewEvent:
        """Normalise one event and check its size; EventError or BadRequest otherwise."""
        event = normalize(raw, call_type, received_at=received_at, batch_context=batch_context)
        payload = encode(event)
        limit = self.limits.max_event_bytes
        # The stored form adds a few fields; only when it is over the limit is the event as sent measured.
        if len(payload) > limit and len(orjson.dumps(raw)) > limit:
            where = "" if index is None else f" (batch item {index})"
            raise BadRequest("event_too_large", f"an event{where} exceeds the limit of {limit} bytes")
        route = self.route(event, source) if self.route is not None else None
        return NewEvent.from_event(
            event, source=source, received_at=received_at, payload=payload, route=route
        )

    def _batch(
        self, data: dict[str, Any], source: str, received_at: float
    ) -> tuple[list[NewEvent], list[dict[str, Any]]]:
        """The valid events of a batch body, and the rejected ones as `{"index", "code", "message"}`."""
        items = data.get("batch")
        if not isinstance(items, list):
            raise BadRequest("invalid_batch", "batch must be a list of events")
        if len(items) > self.limits.max_batch_events:
            raise BadRequest(
                "too_many_events",
                f"the batch has {len(items)} events; the limit is {self.limits.max_batch_events}",
            )
        envelope: dict[str, Any] = {}
        for key in ("context", "integrations"):
            value = data.get(key)
            if value is not None and not isinstance(value, dict):
                raise BadRequest("invalid_batch", f"{key} must be an object")
            envelope[key] = value
        envelope["sentAt"] = data.get("sentAt")
        events: list[NewEvent] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                events.append(self._event(item, None, source, received_at, envelope, index))
            except EventError as exc:
                rejected.append({"index": index, "code": exc.code, "message": exc.message})
        if rejected and not events:
            first = rejected[0]
            codes = Counter(item["code"] for item in rejected)
            codes[first["code"]] -= 1  # the 400 itself is counted under the first item's code
            for code, count in codes.items():
                if count:
                    self.metrics.rejected.labels(code).inc(count)
            raise BadRequest(
                first["code"], f"no valid event in the batch; item {first['index']}: {first['message']}"
            )
        return events, rejected

    def _count(self, events: list[NewEvent], results: list[bool], rejected: list[dict[str, Any]]) -> None:
        """Update the counters once per request (not per event: labels cost a lock each)."""
        by_type = Counter(event.type for event, kept in zip(events, results, strict=True) if kept)
        for call_type, count in by_type.items():
            self.metrics.received.labels(call_type).inc(count)
        duplicates = len(results) - sum(by_type.values())
        if duplicates:
            self.metrics.duplicates.inc(duplicates)
        for code, count in Counter(item["code"] for item in rejected).items():
            self.metrics.rejected.labels(code).inc(count)


def _parse(body: bytes) -> dict[str, Any]:
    """The JSON object in `body`, or BadRequest saying what is wrong."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("invalid_body", "the body must be a JSON object")
    return data
