"""The overview page: the queue, each destination side by side (its paused state, its share of the queue and
its mappings' counts: the figures of `/admin/stats`), charts."""

from __future__ import annotations

from urllib.parse import urlencode

from markupsafe import Markup

from gleap_actions.console.activity import FILTERED, STATES, Series
from gleap_actions.console.charts import legend, stacked
from gleap_actions.console.data import DestinationView, Overview
from gleap_actions.console.html import age, csrf_field, empty, join, layout, when


def page(ov: Overview, csrf: str, notice: Markup | None = None) -> Markup:
    """The whole page; its live part reloads from `/console/overview/live`."""
    body = Markup('{}<div id="live" aria-live="polite">{}</div>').format(notice or "", live(ov, csrf))
    return layout("Overview", "overview", body, csrf=csrf, refresh="/console/overview/live")


def live(ov: Overview, csrf: str) -> Markup:
    """The part of the page that refreshes."""
    return join([_paused(ov, csrf), _queue(ov), _destinations(ov), _charts(ov)])


def _paused(ov: Overview, csrf: str) -> Markup:
    if not ov.paused:
        return Markup("")
    several = len(ov.destinations) > 1
    lines = join(
        Markup("<li>{}Gleap answered {} to the API token (since {}): {}.</li>").format(
            Markup("<strong>{}</strong>: ").format(view.name) if several else "",
            f"HTTP {view.paused.status}" if view.paused.status else "a refusal",
            when(view.paused.since),
            view.paused.detail or "refused",
        )
        for view in ov.paused
        if view.paused is not None
    )
    token = "the destination's <code>gleap.api_token</code>" if several else "<code>gleap.api_token</code>"
    return Markup(
        '<section class="banner error" role="alert" data-testid="paused"><h2>Delivery is paused</h2>'
        "<ul>{}</ul><p>Nothing is sent to {} and no event is lost while paused; other destinations keep "
        "delivering. Fix {} in the config file, then resume (the config is re-read).</p>"
        '<form method="post" action="/console/resume">{}<button type="submit" data-testid="resume">'
        "Reload config and resume</button></form></section>"
    ).format(
        lines,
        "a paused destination" if several else "Gleap",
        Markup(token),
        csrf_field(csrf),
    )


def _queue(ov: Overview) -> Markup:
    s = ov.stats
    cards = [
        ("unrouted", "Waiting for routing", f"{s.unrouted:,}"),
        ("pending", "Pending deliveries", f"{s.pending:,}"),
        ("retrying", "Retrying", f"{s.retrying:,}"),
        ("in-flight", "In flight", f"{s.in_flight:,}"),
        ("dead-letters", "Dead letters", f"{s.dead_letters:,}"),
        ("oldest", "Oldest waiting", age(s.oldest_pending_age) if s.oldest_pending_age else "none"),
    ]
    if ov.concurrency is not None:
        cards.append(("concurrency", "Concurrency limit", f"{ov.concurrency:.0f}"))
    items = join(
        Markup(
            '<div class="card"><div class="label">{}</div>'
            '<div class="figure" data-testid="queue-{}">{}</div></div>'
        ).format(label, key, value)
        for key, label, value in cards
    )
    return Markup(
        '<section aria-labelledby="q"><h2 id="q">Queue</h2><div class="cards">{}</div>'
        '<p class="hint">Read at {} (the figures of <code>GET /admin/stats</code>; re-read every few '
        "seconds).</p></section>"
    ).format(items, when(ov.at))


def _destinations(ov: Overview) -> Markup:
    if not ov.mappings:
        return empty(
            "No mappings are configured, so nothing is delivered.",
            Markup("Add a <code>mappings</code> list to the config file (see docs/configuration.md)."),
        )
    note = (
        ""
        if ov.delivering
        else "This node only ingests: delivered counts and charts are on the nodes that deliver."
    )
    return Markup(
        '<section aria-labelledby="d"><h2 id="d">Destinations</h2><div class="destinations">{}</div>'
        '<p class="hint">Delivered, failed attempts and Gleap latency: this process since it started '
        "(latency: mean over the last minute with requests). Waiting, in flight, pending, retrying, dead "
        "letters: the queue now. {}</p></section>"
    ).format(join(_destination(view, ov) for view in ov.destinations), note)


def _destination(view: DestinationView, ov: Overview) -> Markup:
    state, label = (
        ("paused", "paused: token refused") if view.paused is not None else ("delivering", "delivering")
    )
    if not view.configured:
        state, label = "unconfigured", "not in the config: queued work waits for dlq discard"
    q = view.queue
    figures = Markup(
        '<dl class="figures"><dt>Waiting</dt><dd data-testid="destination-pending-{}">{:,}</dd>'
        "<dt>In flight</dt><dd>{:,}</dd><dt>Dead letters</dt>"
        '<dd><a data-testid="destination-dead-letters-{}" href="/console/dead-letters?{}">{:,}</a></dd>'
        "<dt>Oldest waiting</dt><dd>{}</dd></dl>"
    ).format(
        view.name,
        q.pending,
        q.in_flight,
        view.name,
        urlencode({"destination": view.name}),
        q.dead_letters,
        age(q.oldest_age) if q.pending + q.in_flight else "none",
    )
    prefix = f"{view.name}/"
    rows = join(_mapping_row(key, key.removeprefix(prefix), ov) for key in view.mappings)
    table = (
        Markup(
            '<div class="scroll"><table><thead><tr><th scope="col">Mapping</th><th scope="col">Delivered</th>'
            '<th scope="col">Pending</th><th scope="col">Retrying</th><th scope="col">Failed</th>'
            '<th scope="col">Dead letters</th><th scope="col">Latency</th></tr></thead>'
            "<tbody>{}</tbody></table></div>"
        ).format(rows)
        if view.mappings
        else Markup('<p class="hint">No mappings.</p>')
    )
    return Markup(
        '<section class="destination" aria-labelledby="dest-{}" data-testid="destination-{}">'
        '<h3 id="dest-{}">{} <span class="badge {}" data-testid="destination-state-{}">{}</span></h3>{}{}'
        "</section>"
    ).format(view.name, view.name, view.name, view.name, state, view.name, label, figures, table)


def _mapping_row(key: str, name: str, ov: Overview) -> Markup:
    counts = ov.stats.per_mapping.get(key, {})
    latency = ov.latency.get(key)
    return Markup(
        '<tr><th scope="row">{}</th><td data-testid="delivered-{}">{:,}</td><td>{:,}</td>'
        '<td data-testid="retrying-{}">{:,}</td><td data-testid="failed-{}">{:,}</td>'
        '<td><a data-testid="dead-letters-{}" href="/console/dead-letters?{}">{:,}</a></td>'
        "<td>{}</td></tr>"
    ).format(
        name,
        key,
        ov.totals[key, "delivered"],
        counts.get("pending", 0),
        key,
        counts.get("retrying", 0),
        key,
        ov.totals[key, "failed"],
        key,
        urlencode({"mapping": key}),
        counts.get("dead_letters", 0),
        f"{latency * 1000:.0f} ms" if latency is not None else "–",
    )


def _charts(ov: Overview) -> Markup:
    parts = [legend(STATES)]
    for series, title in ((ov.hour, "Last hour (per minute)"), (ov.day, "Last day (per 15 minutes)")):
        parts.append(Markup('<h3>{}</h3><div class="charts">{}</div>').format(title, _span(series, ov)))
    return Markup('<section aria-labelledby="c"><h2 id="c">Over time</h2>{}</section>').format(join(parts))


def _span(series: Series, ov: Overview) -> Markup:
    charts = [
        Markup('<div class="chart-box"><h4>{}</h4>{}</div>').format(name, stacked(series, name, name))
        for name in ov.mappings
    ]
    charts.append(
        Markup('<div class="chart-box"><h4>Filtered events</h4>{}</div>').format(
            stacked(series, FILTERED, "filtered events")
        )
    )
    return join(charts)
