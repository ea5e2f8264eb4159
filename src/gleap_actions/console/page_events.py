"""The live events page: recent events with their route and, per mapping, the Gleap request and response."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup

from gleap_actions.console.html import code, empty, join, layout, options, pretty, when
from gleap_actions.console.live import LiveEvent, LiveEvents

TYPES = ("track", "identify", "page", "screen", "group", "alias")
FILTERED_WHY = {
    "integrations": "filtered: the event's integrations object turns this destination off",
    "no_matching_mapping": "filtered: no mapping's trigger matches",
}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The page's filters (exact matches; empty means any)."""

    type: str = ""
    name: str = ""
    user_id: str = ""

    def query(self) -> str:
        """As a query string."""
        return urlencode({"type": self.type, "event": self.name, "userId": self.user_id})


def page(ring: LiveEvents, flt: EventFilter, csrf: str) -> Markup:
    """The whole page; the list reloads from `/console/events/live`."""
    form = Markup(
        '<form method="get" class="filters" role="search" aria-label="Filter events">'
        '<label>Type <select name="type" data-testid="filter-type">{}</select></label>'
        '<label>Event name <input name="event" value="{}" data-testid="filter-event"></label>'
        '<label>User id <input name="userId" value="{}" data-testid="filter-user"></label>'
        '<button type="submit">Filter</button></form>'
    ).format(options(TYPES, flt.type), flt.name, flt.user_id)
    body = Markup('{}<div id="live" aria-live="polite">{}</div>').format(form, live(ring, flt))
    return layout("Live events", "events", body, csrf=csrf, refresh=f"/console/events/live?{flt.query()}")


def live(ring: LiveEvents, flt: EventFilter) -> Markup:
    """The refreshing list."""
    events = ring.recent(type_=flt.type, name=flt.name, user_id=flt.user_id)
    if not events:
        what = "matching these filters " if (flt.type or flt.name or flt.user_id) else ""
        return empty(
            f"No events {what}yet.",
            Markup(
                "Events appear here as this process accepts them (the last 500). Send one with a Segment "
                "library or <code>curl -u WRITE_KEY: -H 'Content-Type: application/json' -d "
                '\'{{"type":"track","event":"Hello","userId":"u1"}}\' /v1/track</code> on this server.'
            ),
        )
    return Markup('<ol class="events">{}</ol>').format(join(_event(ring, e) for e in events))


def _mappings(ring: LiveEvents, live: LiveEvent) -> list[str]:
    route = ring.route_of(live)
    names = list(route.mappings) if route else []
    return names + [m for m in live.outcomes if m not in names]


def _event(ring: LiveEvents, live: LiveEvent) -> Markup:
    """One line of the list. Its details (event, requests, responses) load when it is opened: a batch
    request holds up to a thousand events, and the list must stay light."""
    route = ring.route_of(live)
    badges: list[Markup] = []
    if route is None:
        badges.append(Markup('<span class="badge">routing…</span>'))
    elif not route.mappings:
        badges.append(
            Markup('<span class="badge muted">{}</span>').format(
                FILTERED_WHY.get(route.filtered or "", "filtered")
            )
        )
    for mapping in _mappings(ring, live):
        outcome = live.outcomes.get(mapping)
        state = outcome.outcome if outcome else "queued"
        badges.append(
            Markup('<span class="badge {}">{}: {}</span>').format(state, mapping, state.replace("_", " "))
        )
    return Markup(
        '<li><details data-testid="live-event" data-key="{}" data-detail="/console/events/{}/detail">'
        '<summary><time>{}</time> <strong>{}</strong> {} <span class="user">{}</span> {}</summary>'
        '<div class="detail"><p><a href="/console/events/{}">Event, Gleap requests and responses</a></p>'
        "</div></details></li>"
    ).format(
        live.message_id,
        live.seq,
        when(live.received_at),
        live.type,
        live.name,
        f"user {live.user_id}" if live.user_id else "anonymous",
        join(badges),
        live.seq,
    )


def detail(ring: LiveEvents, live: LiveEvent) -> Markup:
    """An event and, per mapping, what became of it: the Gleap request (token redacted) and the response."""
    details = [code(pretty(live.payload), "Event")]
    for mapping in _mappings(ring, live):
        outcome = live.outcomes.get(mapping)
        if outcome is None:
            details.append(Markup("<h4>{}</h4><p>Queued: not sent yet.</p>").format(mapping))
            continue
        status = f"HTTP {outcome.status}" if outcome.status is not None else "no HTTP status"
        details.append(
            Markup("<h4>{} · {} · {} at {}</h4>{}{}").format(
                mapping,
                outcome.outcome.replace("_", " "),
                status,
                when(outcome.at),
                code(pretty(outcome.request), "Gleap request (token redacted)", f"request-{mapping}")
                if outcome.request
                else Markup(""),
                code(pretty(outcome.response), "Response" if outcome.request else "Reason"),
            )
        )
    details.append(
        Markup(
            '<p><a href="/console/mappings?event={}#tester">Test this event against the mappings</a></p>'
        ).format(live.seq)
    )
    return join(details)


def detail_page(ring: LiveEvents, live: LiveEvent | None, csrf: str) -> Markup:
    """One event's details as a page (without script, or to share the link)."""
    body = (
        detail(ring, live)
        if live is not None
        else empty("This event is no longer in the live view (it keeps the last 500).")
    )
    return layout("Event", "events", body, csrf=csrf)
