"""The admin API's audience routes (mounted by `admin/api.py` behind its token):

- `GET  /admin/audiences`              every configured audience and computed trait, with state and members
- `GET  /admin/audiences/{key}`        one of them (by key or name)
- `POST /admin/audiences/preview`      body `{"definition": "...", "kind": "audience"|"computed_trait",
  "events": [...], "now": "ISO 8601"?, "include_anonymous_users": false}`, or `{"key": "...",
  "events": [...]}`: the members (or values) over those events, nothing stored or sent
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gleap_actions.audiences import KINDS, QuerySyntaxError, compile_definition
from gleap_actions.audiences.preview import group_profiles, preview
from gleap_actions.compute.status import status
from gleap_actions.config.audiences import Computation
from gleap_actions.engine.datetimes import InvalidDatetime, parse_datetime
from gleap_actions.queue.store import Store

Run = Callable[..., Awaitable[Any]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class AudienceRoutes:
    """Handlers over the configured computations and the store's profiles."""

    def __init__(self, store: Store, computations: Sequence[Computation], run: Run) -> None:
        self._store = store
        self.computations = tuple(computations)  # replaced by a config reload
        self._run = run

    def routes(self) -> list[tuple[str, str, Handler]]:
        """(method, path, handler) of each route."""
        return [
            ("GET", "/admin/audiences", self._list),
            ("POST", "/admin/audiences/preview", self._preview),
            ("GET", "/admin/audiences/{key}", self._show),
        ]

    async def _list(self, _request: web.Request) -> web.Response:
        documents = await self._run(lambda: status(self.computations, self._store.profiles))
        return web.json_response({"audiences": documents})

    async def _show(self, request: web.Request) -> web.Response:
        wanted = request.match_info["key"]
        chosen = [c for c in self.computations if wanted in (c.key, c.name)]
        if not chosen:
            return _error(404, "not_found", f"no audience or computed trait named {wanted!r}")
        documents = await self._run(lambda: status(chosen, self._store.profiles))
        return web.json_response(documents[0])

    async def _preview(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _error(400, "invalid_json", f"the body is not valid JSON: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            return _error(400, "bad_request", "expected an object with an `events` list")
        try:
            definition = self._definition(body)
            now = parse_datetime(body["now"]) if body.get("now") else datetime.now(UTC)
        except (QuerySyntaxError, ValueError, InvalidDatetime) as exc:
            return _error(400, "bad_definition", str(exc))
        lines = (orjson.dumps(event) for event in body["events"])
        profiles, skipped = group_profiles(lines)
        results = list(preview(definition, profiles, now))
        return web.json_response(
            {"results": results, "profiles": len(profiles), "skipped": [vars(s) for s in skipped]}
        )

    def _definition(self, body: dict[str, Any]) -> Any:
        key = body.get("key")
        if key is not None:
            for computation in self.computations:
                if key in (computation.key, computation.name):
                    return computation.definition
            raise ValueError(f"no audience or computed trait named {key!r}")
        kind = body.get("kind", "audience")
        if kind not in KINDS or not isinstance(body.get("definition"), str):
            raise ValueError("expected `definition` (a string) and `kind` audience or computed_trait")
        return compile_definition(
            body["definition"], kind=kind, include_anonymous_users=bool(body.get("include_anonymous_users"))
        )


def _error(status_code: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status_code)
