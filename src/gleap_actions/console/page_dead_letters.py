"""The dead letters pages: the list with filters and selection, one letter, the confirmation of a replay or
purge, and the result of a replay (what became of each replayed event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson
from markupsafe import Markup

from gleap_actions.console.data import LetterFilter
from gleap_actions.console.html import banner, code, csrf_field, empty, join, layout, options, pretty, when
from gleap_actions.console.live import LiveEvents
from gleap_actions.queue.store import DeadLetter


@dataclass(frozen=True, slots=True)
class Replayed:
    """A dead letter that was replayed: enough to follow its event in the live view."""

    letter_id: int
    mapping: str
    message_id: str


def message_id(letter: DeadLetter) -> str:
    """The message id of the letter's event."""
    value = orjson.loads(letter.payload).get("messageId")
    return value if isinstance(value, str) else ""


def page(
    letters: Sequence[DeadLetter],
    next_after: int | None,
    flt: LetterFilter,
    destinations: Sequence[str],
    mappings: Sequence[str],
    csrf: str,
    notice: Markup | None = None,
) -> Markup:
    """The list. `mappings`: delivery keys (`destination/mapping`, the name alone for `default`)."""
    filters = Markup(
        '<form method="get" class="filters" role="search" aria-label="Filter dead letters">'
        '<label>Destination <select name="destination" data-testid="filter-destination">{}</select></label>'
        '<label>Mapping <select name="mapping" data-testid="filter-mapping">{}</select></label>'
        '<label>Status <input name="status" value="{}" size="5" placeholder="e.g. 400"></label>'
        '<label>Reason contains <input name="reason" value="{}"></label>'
        '<button type="submit">Filter</button></form>'
    ).format(options(destinations, flt.destination), options(mappings, flt.mapping), flt.status, flt.reason)
    if not letters:
        filtered = flt.destination or flt.mapping or flt.status or flt.reason or flt.after
        listing = empty(
            "No dead letters"
            + (
                " match these filters."
                if filtered
                else ": every event so far was delivered or is still being tried."
            ),
            "Deliveries Gleap refuses for good, or that keep failing for the whole retry window, land "
            "here with the request and response, ready to replay.",
        )
    else:
        rows = join(_row(letter) for letter in letters)
        more = (
            Markup('<p><a href="/console/dead-letters?{}">Next page</a></p>').format(
                urlencode(
                    {
                        "destination": flt.destination,
                        "mapping": flt.mapping,
                        "status": flt.status,
                        "reason": flt.reason,
                        "after": next_after,
                    }
                )
            )
            if next_after is not None
            else Markup("")
        )
        listing = Markup(
            '<form method="post" action="/console/dead-letters/replay">{}'
            '<div class="actions">'
            '<button type="submit" data-testid="replay-selected">Replay selected</button>'
            '<button type="submit" formaction="/console/dead-letters/purge" class="danger" '
            'data-testid="purge-selected">Purge selected</button></div>'
            '<div class="scroll"><table><thead><tr><th scope="col"><span class="sr">Select</span></th>'
            '<th scope="col">Id</th><th scope="col">Destination</th><th scope="col">Mapping</th>'
            '<th scope="col">Status</th>'
            '<th scope="col">Reason</th><th scope="col">Attempts</th><th scope="col">When</th>'
            '<th scope="col"><span class="sr">Actions</span></th>'
            "</tr></thead><tbody>{}</tbody></table></div></form>{}"
        ).format(csrf_field(csrf), rows, more)
    return layout("Dead letters", "dead-letters", join([notice or "", filters, listing]), csrf=csrf)


def _row(letter: DeadLetter) -> Markup:
    return Markup(
        '<tr><td><input type="checkbox" name="ids" value="{}" aria-label="Select dead letter {}"></td>'
        '<td><a href="/console/dead-letters/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
        '<td class="reason">{}</td>'
        "<td>{}</td><td>{}</td>"
        '<td><button type="submit" name="only" value="{}" data-testid="replay-{}">Replay</button></td></tr>'
    ).format(
        letter.id,
        letter.id,
        letter.id,
        letter.id,
        letter.destination,
        letter.mapping,
        letter.status if letter.status is not None else "–",
        letter.reason,
        letter.attempts,
        when(letter.created_at),
        letter.id,
        letter.id,
    )


def detail(letter: DeadLetter, csrf: str) -> Markup:
    """One letter with its request, response and event."""
    actions = Markup(
        '<form method="post" action="/console/dead-letters/replay" class="actions">{}'
        '<input type="hidden" name="ids" value="{}">'
        '<button type="submit" data-testid="replay-{}">Replay</button>'
        '<button type="submit" formaction="/console/dead-letters/purge" class="danger">Purge</button></form>'
    ).format(csrf_field(csrf), letter.id, letter.id)
    facts = Markup(
        "<dl><dt>Destination</dt><dd>{}</dd><dt>Mapping</dt><dd>{}</dd><dt>Reason</dt><dd>{}</dd><dt>Status</dt><dd>{}</dd>"
        "<dt>Attempts</dt><dd>{}</dd><dt>Dead-lettered</dt><dd>{}</dd></dl>"
    ).format(
        letter.destination,
        letter.mapping,
        letter.reason,
        letter.status if letter.status is not None else "–",
        letter.attempts,
        when(letter.created_at),
    )
    body = join(
        [
            actions,
            facts,
            code(pretty(letter.request), "Request (token redacted)")
            if letter.request
            else Markup("<p>No request was sent (the event was rejected before).</p>"),
            code(pretty(letter.response), "Response") if letter.response else Markup(""),
            code(pretty(letter.payload), "Event"),
        ]
    )
    return layout(f"Dead letter {letter.id}", "dead-letters", body, csrf=csrf)


def confirm(action: str, ids: Sequence[int], csrf: str) -> Markup:
    """Ask before replaying or purging `ids`."""
    verb = "Replay" if action == "replay" else "Purge"
    consequence = (
        "They go back to the queue with a fresh retry window and are delivered like new events."
        if action == "replay"
        else "They are deleted for good, with their stored requests and responses."
    )
    hidden = join(Markup('<input type="hidden" name="ids" value="{}">').format(i) for i in ids)
    body = Markup(
        "<p>{} {} dead letter(s): {}.</p><p>{}</p>"
        '<form method="post" action="/console/dead-letters/{}">{}{}'
        '<input type="hidden" name="confirm" value="yes">'
        '<button type="submit" data-testid="confirm" class="{}">{} {}</button> '
        '<a href="/console/dead-letters">Cancel</a></form>'
    ).format(
        verb,
        len(ids),
        ", ".join(str(i) for i in ids[:50]) + (" …" if len(ids) > 50 else ""),
        consequence,
        action,
        csrf_field(csrf),
        hidden,
        "danger" if action == "purge" else "",
        verb,
        len(ids),
    )
    return layout(f"{verb} dead letters?", "dead-letters", body, csrf=csrf)


def result(replayed: Sequence[Replayed], ring: LiveEvents, csrf: str, refresh: str) -> Markup:
    """What became of replayed letters (from the live view's record of deliveries)."""
    body = Markup(
        '{}<div id="live" aria-live="polite">{}</div>'
        '<p><a href="/console/dead-letters">Back to dead letters</a></p>'
    ).format(banner(f"{len(replayed)} dead letter(s) queued again.", "ok"), result_rows(replayed, ring))
    return layout("Replay result", "dead-letters", body, csrf=csrf, refresh=refresh)


def result_rows(replayed: Sequence[Replayed], ring: LiveEvents) -> Markup:
    """The refreshing part of the result."""
    if not replayed:
        return empty("Nothing was replayed (the selected letters were already gone).")
    rows = []
    for r in replayed:
        live = ring.find(r.message_id) if r.message_id else None
        outcome = live.outcomes.get(r.mapping) if live else None
        state = outcome.outcome if outcome else "queued"
        status = f"HTTP {outcome.status}" if outcome and outcome.status is not None else ""
        rows.append(
            Markup(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td>"
                '<td data-testid="replay-result-{}" class="badge {}">{}</td><td>{}</td></tr>'
            ).format(
                r.letter_id, r.mapping, r.message_id, r.letter_id, state, state.replace("_", " "), status
            )
        )
    return Markup(
        '<div class="scroll"><table><thead><tr><th scope="col">Dead letter</th><th scope="col">Mapping</th>'
        '<th scope="col">Message id</th><th scope="col">Now</th><th scope="col">Status</th></tr></thead>'
        "<tbody>{}</tbody></table></div>"
    ).format(join(rows))
