"""The admin API under `/admin/`, protected by its own token (`Authorization: Bearer <token>`).

- `GET  /admin/stats`                        queue depth and age, delivery state counts per delivery key
                                             (`mappings`, with `delivered`: acknowledged by Gleap since
                                             this process started), per destination and mapping
                                             (`destinations`), and deliveries no configured mapping
                                             delivers (`unconfigured`); `audience_lag`: events the
                                             compute stage has not read yet and the oldest one's age
                                             (null while no stage has started)
- `GET  /admin/dead-letters[?mapping=&limit=&after=]`, `GET /admin/dead-letters/{id}`
- `POST /admin/dead-letters/replay`, `POST /admin/dead-letters/purge`  body `{"ids": [...]}`,
  `{"mapping": "..."}` or `{"all": true}`
- `POST /admin/preview[?batch=true&destination=]`  body: one Segment event, a JSON list of them, or JSON lines
- `POST /admin/users/{userId}/delete[?destination=...]`  Gleap deletion in every destination a source
                                             feeds (or those named) + the user's queued events dropped
- `POST /admin/deliveries/discard`          body `{"mapping": "<delivery key>"}`: waiting deliveries no
                                             configured mapping delivers -> dead letters
- `POST /admin/reload`                      re-read the config (tokens, sources, destinations, mappings)
- `GET /admin/audiences`, `GET /admin/audiences/{key}`, `POST /admin/audiences/preview`: see
  `admin/audiences.py`

Without a configured admin token every admin route answers 403: the API is off, not open.
"""

from __future__ import annotations

import dataclasses
import hmac
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import orjson
from aiohttp import web

from gleap_actions.admin.audiences import AudienceRoutes
from gleap_actions.admin.selection import parse_filter
from gleap_actions.queue.render import dead_letter_json
from gleap_actions.queue.store import ALL_DEAD_LETTERS, DeadLetterFilter, DestinationQueue, Store

Run = Callable[..., Awaitable[Any]]
Preview = Callable[[bytes, bool, str | None], Iterator[bytes]]  # body, batch, destination
DeleteUser = Callable[[str, tuple[str, ...]], Awaitable[dict[str, Any]]]
Discard = Callable[[str], Awaitable[int]]
Topology = Callable[[dict[str, dict[str, int]]], Awaitable[dict[str, Any]]]
Reload = Callable[[], Awaitable[dict[str, Any]]]


MAX_ID = 2**63 - 1  # the largest id a store holds (SQLite INTEGER, PostgreSQL BIGINT)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _whole(text: str) -> int:
    """A whole number a store can hold; ValueError otherwise (a larger one would crash the query)."""
    value = int(text)
    if not 0 <= value <= MAX_ID:
        raise ValueError(text)
    return value


class AdminAPI:
    """Admin routes over a store; the pipeline-facing operations are passed in as callables."""

    def __init__(
        self,
        store: Store,
        token: str | None,
        *,
        run: Run,
        preview: Preview,
        delete_user: DeleteUser,
        reload: Reload,
        on_replay: Callable[[], None] = lambda: None,
        discard: Discard | None = None,
        topology: Topology | None = None,
        audiences: AudienceRoutes | None = None,
        delivered: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        self._discard = discard
        self._topology = topology
        self._store = store
        self._token = token.encode() if token else None
        self._run = run
        self._preview = preview
        self._delete_user = delete_user
        self._reload = reload
        self._on_replay = on_replay
        self._audiences = audiences
        self._delivered = delivered

    def add_routes(self, app: web.Application) -> None:
        """Mount the admin routes on `app`."""
        routes = [
            ("GET", "/admin/stats", self._stats),
            ("GET", "/admin/dead-letters", self._list),
            ("GET", "/admin/dead-letters/{id}", self._show),
            ("POST", "/admin/dead-letters/replay", self._replay),
            ("POST", "/admin/dead-letters/purge", self._purge),
            ("POST", "/admin/preview", self._preview_route),
            ("POST", "/admin/users/{user_id}/delete", self._delete_user_route),
            ("POST", "/admin/reload", self._reload_route),
            ("POST", "/admin/deliveries/discard", self._discard_route),
            *(self._audiences.routes() if self._audiences is not None else []),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._guarded(handler))

    def _guarded(
        self, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            if self._token is None:
                return _error(403, "admin_disabled", "the admin API is off: set an admin token to enable it")
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            # Constant-time comparison so response timing does not reveal the token.
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self._token):
                return _error(401, "unauthorized", "missing or wrong admin token (Authorization: Bearer ...)")
            return await handler(request)

        return guarded

    async def _stats(self, _request: web.Request) -> web.Response:
        stats = await self._run(self._store.stats, time.time())
        lag = await self._run(self._store.profiles.lag, time.time())
        mappings = {name: {**counts, "delivered": 0} for name, counts in stats.per_mapping.items()}
        zero = {"pending": 0, "retrying": 0, "in_flight": 0, "dead_letters": 0}
        for name, count in self._delivered().items():
            mappings.setdefault(name, {**zero})["delivered"] = count
        extra = await self._topology(mappings) if self._topology is not None else {}
        queues = {name: DestinationQueue() for name in extra.get("destinations", {})} | stats.per_destination
        return web.json_response(
            extra
            | {
                "unrouted": stats.unrouted,
                "pending": stats.pending,
                "retrying": stats.retrying,
                "in_flight": stats.in_flight,
                "dead_letters": stats.dead_letters,
                "oldest_pending_age": stats.oldest_pending_age,
                "audience_lag": None if lag is None else {"events": lag[0], "oldest_age": lag[1]},
                "mappings": mappings,
                "destination_queues": {name: dataclasses.asdict(queue) for name, queue in queues.items()},
            }
        )

    async def _list(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
            after = _whole(request.query.get("after", "0"))
        except ValueError:
            return _error(400, "bad_query", "limit and after must be whole numbers")
        if not 1 <= limit <= 1000:
            return _error(400, "bad_query", "limit must be between 1 and 1000")
        try:
            where = parse_filter(request.query)
        except ValueError as exc:
            return _error(400, "bad_query", str(exc))
        letters = await self._run(lambda: self._store.list_dead_letters(where, limit=limit, after_id=after))
        return web.json_response({"dead_letters": [dead_letter_json(d, full=False) for d in letters]})

    async def _show(self, request: web.Request) -> web.Response:
        try:
            letter_id = _whole(request.match_info["id"])
        except ValueError:
            return _error(400, "bad_id", "a dead-letter id is a whole number")
        letter = await self._run(self._store.get_dead_letter, letter_id)
        if letter is None:
            return _error(404, "not_found", f"no dead letter {letter_id}")
        return web.json_response(dead_letter_json(letter, full=True))

    async def _selection(
        self, request: web.Request
    ) -> tuple[list[int] | None, DeadLetterFilter] | web.Response:
        usage = 'send {"ids": [...]}, any of {"destination", "mapping", "reason", "status"} or {"all": true}'
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError as exc:
            return _error(400, "invalid_json", f"the body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "bad_selection", usage)
        ids = body.get("ids")
        if ids is not None and not (
            isinstance(ids, list) and all(type(i) is int and 0 <= i <= MAX_ID for i in ids)
        ):
            return _error(400, "bad_selection", "ids must be a list of whole numbers")
        try:
            where = parse_filter(body)
        except ValueError as exc:
            return _error(400, "bad_selection", str(exc))
        if ids is None and where == ALL_DEAD_LETTERS and body.get("all") is not True:
            return _error(400, "bad_selection", usage)
        return ids, where

    async def _replay(self, request: web.Request) -> web.Response:
        selection = await self._selection(request)
        if isinstance(selection, web.Response):
            return selection
        ids, where = selection
        count = await self._run(lambda: self._store.replay_dead_letters(ids, where=where))
        self._on_replay()
        return web.json_response({"replayed": count})

    async def _purge(self, request: web.Request) -> web.Response:
        selection = await self._selection(request)
        if isinstance(selection, web.Response):
            return selection
        ids, where = selection
        count = await self._run(lambda: self._store.purge_dead_letters(ids, where=where))
        return web.json_response({"purged": count})

    async def _preview_route(self, request: web.Request) -> web.Response:
        raw = await request.read()
        batch = request.query.get("batch", "false").lower() in ("1", "true", "yes")
        try:
            results = [
                orjson.loads(line) for line in self._preview(raw, batch, request.query.get("destination"))
            ]
        except KeyError as exc:
            return _error(400, "unknown_destination", f"no destination {exc.args[0]!r} is configured")
        return web.json_response({"results": results})

    async def _delete_user_route(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if not user_id.strip():
            return _error(400, "bad_user_id", "the user id is empty")
        result = await self._delete_user(user_id, tuple(request.query.getall("destination", [])))
        return web.json_response(result, status=200 if result.get("ok") else 502)

    async def _reload_route(self, _request: web.Request) -> web.Response:
        result = await self._reload()
        return web.json_response(result, status=200 if result.get("ok") else 400)

    async def _discard_route(self, request: web.Request) -> web.Response:
        selection = await self._selection(request)
        if isinstance(selection, web.Response):
            return selection
        _, where = selection
        if where.mapping is None or self._discard is None:
            return _error(400, "bad_selection", 'send {"mapping": "<delivery key>"}')
        try:
            count = await self._discard(where.mapping)
        except ValueError as exc:
            return _error(409, "configured", str(exc))
        return web.json_response({"discarded": count})
