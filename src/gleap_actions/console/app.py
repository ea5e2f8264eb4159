"""The console's routes under `/console/`: sign-in, the five pages, their live fragments and actions.

Every page but the sign-in needs a session; every POST needs the session's CSRF token. Without an admin
token the console is off: every console URL answers 403 saying so. Blocking store calls run through `run`
(a worker thread), never on the event loop.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from markupsafe import Markup
from prometheus_client import CollectorRegistry

from gleap_actions.compute.status import sync_states
from gleap_actions.config import Config
from gleap_actions.config.audiences import Computation
from gleap_actions.config.topology import DestinationConfig
from gleap_actions.console import (
    data,
    page_audiences,
    page_dead_letters,
    page_events,
    page_mappings,
    page_overview,
)
from gleap_actions.console.activity import Activity
from gleap_actions.console.audiences import AudienceLog
from gleap_actions.console.auth import Session, Sessions
from gleap_actions.console.html import banner, layout
from gleap_actions.console.live import LiveEvents
from gleap_actions.deliver.record import Exchange
from gleap_actions.queue.store import NewEvent, Store
from gleap_actions.route import delivery_key, split_key

STATIC = Path(__file__).parent / "static"
Run = Callable[..., Awaitable[Any]]
Preview = Callable[
    [bytes, bool, str | None], Iterator[bytes]
]  # as `POST /admin/preview`: body, batch, destination
Reload = Callable[[], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
MAX_IDS = 1000  # most dead letters one console action selects
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
}


def _html(markup: Markup, status: int = 200) -> web.Response:
    return web.Response(text=str(markup), content_type="text/html", status=status, headers=HEADERS)


class Console:
    """The web console of one `serve` process."""

    def __init__(
        self,
        store: Store,
        config: Config,
        registry: CollectorRegistry,
        *,
        run: Run,
        preview: Preview,
        reload: Reload,
        on_replay: Callable[[], None] = lambda: None,
        live_size: int = 500,
    ) -> None:
        token = config.server.admin_token
        public = config.server.public_url or ""
        self.sessions = Sessions(token, force_secure=public.startswith("https:")) if token else None
        self.live = LiveEvents(live_size)
        self.audiences = AudienceLog(registry)
        self.activity = Activity(registry, also=self.audiences.sample)
        self.computing = False  # set by the service when this process runs the compute stage
        self._store = store
        self._config = config
        self.destinations: tuple[DestinationConfig, ...] = config.destinations  # the service's, after reloads
        self._registry = registry
        self._run = run
        self._preview = preview
        self._reload = reload
        self._on_replay = on_replay
        self._paused: dict[str, data.Paused] = {}  # the last refusal seen, per destination
        self._stats = data.StatsCache(lambda now: run(store.stats, now))
        self._replays: OrderedDict[int, list[page_dead_letters.Replayed]] = OrderedDict()
        self._replay_seq = 0

    # -- feeds -----------------------------------------------------------------------------------

    def committed(self, events: Sequence[NewEvent], accepted: Sequence[bool]) -> None:
        """Ingest committed events (chained after the pipeline's own hook)."""
        if self.sessions is not None:
            self.live.committed(events, accepted)

    def observe(self, exchange: Exchange) -> None:
        """Delivery recorded a request's outcome."""
        if self.sessions is None:
            return
        self.live.observe(exchange)
        if exchange.outcome == "paused":
            destination = split_key(exchange.mapping, [d.name for d in self.destinations])[0]
            self._paused[destination] = data.Paused(exchange.status, exchange.response, time.time())

    # -- wiring ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Mount the console on `app` (and sample activity while the app runs)."""
        if self.sessions is None:
            app.router.add_route("*", "/console{tail:.*}", self._off)
            return
        get, post = app.router.add_get, app.router.add_post
        get("/console", self._to_overview)
        get("/console/", self._to_overview)
        get("/console/login", self._login_form)
        post("/console/login", self._login)
        app.router.add_static("/console/static/", STATIC, append_version=False)
        pages: list[tuple[str, str, Handler]] = [
            ("GET", "/console/overview", self._overview),
            ("GET", "/console/overview/live", self._overview_live),
            ("POST", "/console/resume", self._resume),
            ("POST", "/console/logout", self._logout),
            ("GET", "/console/events", self._events),
            ("GET", "/console/events/live", self._events_live),
            ("GET", r"/console/events/{seq:\d{1,18}}", self._event_page),
            ("GET", r"/console/events/{seq:\d{1,18}}/detail", self._event_detail),
            ("GET", "/console/mappings", self._mappings),
            ("POST", "/console/mappings/test", self._test),
            ("GET", "/console/dead-letters", self._dead_letters),
            ("GET", "/console/dead-letters/{id:\\d+}", self._dead_letter),
            ("POST", "/console/dead-letters/replay", self._replay),
            ("POST", "/console/dead-letters/purge", self._purge),
            ("GET", "/console/dead-letters/replays/{n:\\d+}", self._replay_result),
            ("GET", "/console/dead-letters/replays/{n:\\d+}/live", self._replay_result_live),
            ("GET", "/console/audiences", self._audiences),
        ]
        for method, path, handler in pages:
            app.router.add_route(method, path, self._signed_in(handler, csrf=method == "POST"))

        async def start(_app: web.Application) -> None:
            self.activity.start()

        async def stop(_app: web.Application) -> None:
            await self.activity.stop()

        app.on_startup.append(start)
        app.on_cleanup.append(stop)

    def _signed_in(
        self, handler: Handler, *, csrf: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            assert self.sessions is not None
            session = self.sessions.current(request)
            if session is None:
                if request.method == "GET" and not request.path.endswith(("/live", "/detail")):
                    raise web.HTTPSeeOther("/console/login")
                return _html(banner("Your session has ended: sign in again.", "error"), status=401)
            if csrf:
                form = await request.post()
                given = form.get("csrf")
                if not self.sessions.csrf_ok(request, session, given if isinstance(given, str) else None):
                    return _html(
                        banner("This action did not come from the console page (CSRF check).", "error"), 403
                    )
            return await handler(request, session)

        return guarded

    async def _off(self, _request: web.Request) -> web.Response:
        return _html(
            banner("The console is off: set server.admin_token in the config to enable it.", "error"), 403
        )

    async def _to_overview(self, _request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/console/overview")

    # -- sign-in ---------------------------------------------------------------------------------

    async def _login_form(self, _request: web.Request, error: str = "", status: int = 200) -> web.Response:
        notice = banner(error, "error") if error else Markup("")
        body = Markup(
            '{}<form method="post" action="/console/login" class="login" data-testid="login-form">'
            '<label for="token">Admin token</label>'
            '<input id="token" name="token" type="password" autocomplete="current-password" required '
            'autofocus data-testid="login-token">'
            '<button type="submit" data-testid="login-submit">Sign in</button></form>'
            '<p class="hint">The admin token is <code>server.admin_token</code> in the config file.</p>'
        ).format(notice)
        return _html(layout("Sign in", "", body, csrf=None), status)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        assert self.sessions is not None
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not self.sessions.token_matches(given):
            return await self._login_form(request, "That is not the admin token.", 401)
        response = web.Response(status=303, headers={"Location": "/console/overview"})
        self.sessions.sign_in(request, response)
        return response

    async def _logout(self, request: web.Request, _session: Session) -> web.StreamResponse:
        assert self.sessions is not None
        response = web.Response(status=303, headers={"Location": "/console/login"})
        self.sessions.sign_out(request, response)
        return response

    # -- overview --------------------------------------------------------------------------------

    async def _read_overview(self) -> data.Overview:
        stats, read_at = await self._stats.get()
        return data.overview(stats, read_at, self._registry, self.activity, self.destinations, self._paused)

    async def _overview(self, request: web.Request, session: Session) -> web.StreamResponse:
        notice = Markup("")
        if request.query.get("resumed") == "1":
            notice = banner("Config re-read and delivery resumed.", "ok")
        return _html(page_overview.page(await self._read_overview(), session.csrf, notice))

    async def _overview_live(self, _request: web.Request, session: Session) -> web.StreamResponse:
        return _html(page_overview.live(await self._read_overview(), session.csrf))

    async def _resume(self, _request: web.Request, session: Session) -> web.StreamResponse:
        outcome = await self._reload()
        if not outcome.get("ok"):
            errors = "; ".join(outcome.get("errors", []))
            ov = await self._read_overview()
            return _html(
                page_overview.page(
                    ov, session.csrf, banner(f"Not resumed: the config has problems: {errors}", "error")
                ),
                400,
            )
        self._paused = {}
        raise web.HTTPSeeOther("/console/overview?resumed=1")

    # -- live events -----------------------------------------------------------------------------

    @staticmethod
    def _event_filter(request: web.Request) -> page_events.EventFilter:
        q = request.query
        return page_events.EventFilter(q.get("type", ""), q.get("event", ""), q.get("userId", ""))

    async def _events(self, request: web.Request, session: Session) -> web.StreamResponse:
        return _html(page_events.page(self.live, self._event_filter(request), session.csrf))

    async def _events_live(self, request: web.Request, _session: Session) -> web.StreamResponse:
        return _html(page_events.live(self.live, self._event_filter(request)))

    async def _event_page(self, request: web.Request, session: Session) -> web.StreamResponse:
        live = self.live.get(int(request.match_info["seq"]))
        return _html(page_events.detail_page(self.live, live, session.csrf), 200 if live else 404)

    async def _event_detail(self, request: web.Request, _session: Session) -> web.StreamResponse:
        live = self.live.get(int(request.match_info["seq"]))
        if live is None:
            return _html(Markup("<p>No longer in the live view.</p>"), 404)
        return _html(page_events.detail(self.live, live))

    # -- mappings --------------------------------------------------------------------------------

    def _destination(self, name: object) -> DestinationConfig:
        """The destination named `name`, or the first (an unknown or missing name)."""
        return next((d for d in self.destinations if d.name == name), self.destinations[0])

    async def _mappings(self, request: web.Request, session: Session) -> web.StreamResponse:
        text = ""
        seq = request.query.get("event", "")
        if seq.isdigit():
            picked = self.live.get(int(seq))
            if picked is not None:
                text = orjson.dumps(picked.event, option=orjson.OPT_INDENT_2).decode()
        chosen = self._destination(request.query.get("destination"))
        return await self._mappings_page(session, chosen, text, None)

    async def _mappings_page(
        self, session: Session, chosen: DestinationConfig, text: str, output: Markup | None
    ) -> web.Response:
        path = self._config.path
        problems = await self._run(page_mappings.file_problems, path) if path is not None else None
        recent = self.live.recent(limit=20)
        return _html(
            page_mappings.page(
                page_mappings.Shown(self.destinations, chosen),
                problems,
                recent,
                text,
                output,
                session.csrf,
                str(path) if path else None,
            )
        )

    async def _test(self, request: web.Request, session: Session) -> web.StreamResponse:
        form = await request.post()
        text = form.get("event")
        text = text if isinstance(text, str) else ""
        chosen = self._destination(form.get("destination"))
        # One event, a JSON array or JSON lines; a line that is not JSON comes back as an error line.
        lines = [orjson.loads(line) for line in self._preview(text.encode(), False, chosen.name)]
        return await self._mappings_page(session, chosen, text, page_mappings.tester_output(lines))

    # -- dead letters ----------------------------------------------------------------------------

    async def _dead_letters(self, request: web.Request, session: Session) -> web.StreamResponse:
        q = request.query
        after = q.get("after", "0")
        flt = data.LetterFilter(
            destination=q.get("destination", ""),
            mapping=q.get("mapping", ""),
            status=q.get("status", "").strip(),
            reason=q.get("reason", "").strip(),
            after=int(after) if after.isdigit() and len(after) < 19 else 0,
        )
        letters, next_after = await self._run(data.dead_letters, self._store, flt)
        notice = Markup("")
        if "purged" in q:
            notice = banner(f"{q['purged']} dead letter(s) purged.", "ok")
        destinations = [d.name for d in self.destinations]
        keys = [
            delivery_key(d.name, s.name)
            for d in self.destinations
            if flt.destination in ("", d.name)
            for s in d.subscriptions
        ]
        keys += sorted({flt.mapping} - set(keys) - {""})
        return _html(
            page_dead_letters.page(letters, next_after, flt, destinations, keys, session.csrf, notice)
        )

    async def _dead_letter(self, request: web.Request, session: Session) -> web.StreamResponse:
        letter_id = int(request.match_info["id"])
        letter = await self._run(self._store.get_dead_letter, letter_id) if letter_id < 2**63 else None
        if letter is None:
            return _html(
                layout(
                    "Dead letter not found",
                    "dead-letters",
                    banner(f"No dead letter {letter_id}: it may have been replayed or purged.", "warn"),
                    csrf=session.csrf,
                ),
                404,
            )
        return _html(page_dead_letters.detail(letter, session.csrf))

    @staticmethod
    async def _selected(request: web.Request) -> tuple[list[int], bool]:
        form = await request.post()
        only = form.get("only")
        values = [only] if isinstance(only, str) and only else form.getall("ids", [])
        ids = sorted({int(v) for v in values if isinstance(v, str) and v.isdigit() and len(v) < 19})
        return ids[:MAX_IDS], form.get("confirm") == "yes"

    async def _replay(self, request: web.Request, session: Session) -> web.StreamResponse:
        ids, confirmed = await self._selected(request)
        if not ids:
            raise web.HTTPSeeOther("/console/dead-letters")
        if not confirmed:
            return _html(page_dead_letters.confirm("replay", ids, session.csrf))
        letters = [await self._run(self._store.get_dead_letter, i) for i in ids]
        replayed = [
            page_dead_letters.Replayed(d.id, d.mapping, page_dead_letters.message_id(d)) for d in letters if d
        ]
        await self._run(self._store.replay_dead_letters, [r.letter_id for r in replayed])
        self._on_replay()
        self._replay_seq += 1
        self._replays[self._replay_seq] = replayed
        while len(self._replays) > 20:
            self._replays.popitem(last=False)
        raise web.HTTPSeeOther(f"/console/dead-letters/replays/{self._replay_seq}")

    async def _purge(self, request: web.Request, session: Session) -> web.StreamResponse:
        ids, confirmed = await self._selected(request)
        if not ids:
            raise web.HTTPSeeOther("/console/dead-letters")
        if not confirmed:
            return _html(page_dead_letters.confirm("purge", ids, session.csrf))
        count = await self._run(self._store.purge_dead_letters, ids)
        raise web.HTTPSeeOther(f"/console/dead-letters?purged={count}")

    async def _replay_result(self, request: web.Request, session: Session) -> web.StreamResponse:
        n = request.match_info["n"]
        replayed = self._replays.get(int(n)) if len(n) < 10 else None
        if replayed is None:
            raise web.HTTPSeeOther("/console/dead-letters")
        return _html(
            page_dead_letters.result(
                replayed, self.live, session.csrf, f"/console/dead-letters/replays/{n}/live"
            )
        )

    async def _replay_result_live(self, request: web.Request, _session: Session) -> web.StreamResponse:
        n = request.match_info["n"]
        replayed = self._replays.get(int(n)) if len(n) < 10 else None
        return _html(page_dead_letters.result_rows(replayed or [], self.live))

    # -- audiences -------------------------------------------------------------------------------

    def use_computations(
        self, audiences: tuple[Computation, ...], computed_traits: tuple[Computation, ...]
    ) -> None:
        """Show these definitions from now on (a config reload)."""
        self._config = dataclasses.replace(self._config, audiences=audiences, computed_traits=computed_traits)

    async def _audiences(self, _request: web.Request, session: Session) -> web.StreamResponse:
        computations = (*self._config.audiences, *self._config.computed_traits)
        now = time.time()
        # One row per remembered key; while one syncs, a count of the profiles it has left to evaluate.
        states = await self._run(sync_states, self._store.profiles) if computations else {}
        view = page_audiences.AudiencesView(
            computations=computations,
            states=states,
            members=self.audiences.sample(now),
            computing=self.computing,
            series=self.audiences.series([c.key for c in computations], now),
            changes=self.audiences.recent(),
        )
        return _html(page_audiences.page(view, session.csrf))
