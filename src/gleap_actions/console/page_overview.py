"""The overview page: queue, per-mapping counts (the figures of `/admin/stats`), charts, paused state."""

from __future__ import annotations

from markupsafe import Markup

from gleap_actions.console.activity import FILTERED, STATES, Series
from gleap_actions.console.charts import legend, stacked
from gleap_actions.console.data import Overview
from gleap_actions.console.html import age, csrf_field, empty, join, layout, when


def page(ov: Overview, csrf: str, notice: Markup | None = None) -> Markup:
    """The whole page; its live part reloads from `/console/overview/live`."""
    body = Markup('{}<div id="live" aria-live="polite">{}</div>').format(notice or "", live(ov, csrf))
    return layout("Overview", "overview", body, csrf=csrf, refresh="/console/overview/live")


def live(ov: Overview, csrf: str) -> Markup:
    """The part of the page that refreshes."""
    return join([_paused(ov, csrf), _queue(ov), _mappings(ov), _charts(ov)])


def _paused(ov: Overview, csrf: str) -> Markup:
    if ov.paused is None:
        return Markup("")
    status = f"HTTP {ov.paused.status}" if ov.paused.status else "a refusal"
    return Markup(
        '<section class="banner error" role="alert" data-testid="paused"><h2>Delivery is paused</h2>'
        "<p>Gleap answered {} to the API token (since {}): {}. Nothing is sent and no event is lost while "
        "paused. Fix <code>gleap.api_token</code> in the config file, then resume (the config is "
        "re-read).</p>"
        '<form method="post" action="/console/resume">{}<button type="submit" data-testid="resume">'
        "Reload config and resume</button></form></section>"
    ).format(status, when(ov.paused.since), ov.paused.detail or "refused", csrf_field(csrf))


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


def _mappings(ov: Overview) -> Markup:
    if not ov.mappings:
        return empty(
            "No mappings are configured, so nothing is delivered.",
            Markup("Add a <code>mappings</code> list to the config file (see docs/configuration.md)."),
        )
    rows = []
    for name in ov.mappings:
        counts = ov.stats.per_mapping.get(name, {})
        latency = ov.latency.get(name)
        rows.append(
            Markup(
                '<tr><th scope="row">{}</th><td data-testid="delivered-{}">{:,}</td><td>{:,}</td>'
                '<td data-testid="retrying-{}">{:,}</td><td>{:,}</td><td>{:,}</td>'
                '<td><a data-testid="dead-letters-{}" href="/console/dead-letters?mapping={}">{:,}</a></td>'
                "<td>{}</td></tr>"
            ).format(
                name,
                name,
                ov.totals[name, "delivered"],
                counts.get("pending", 0),
                name,
                counts.get("retrying", 0),
                counts.get("in_flight", 0),
                ov.totals[name, "failed"],
                name,
                name,
                counts.get("dead_letters", 0),
                f"{latency * 1000:.0f} ms" if latency is not None else "–",
            )
        )
    note = (
        ""
        if ov.delivering
        else "This node only ingests: delivered counts and charts are on the nodes that deliver."
    )
    return Markup(
        '<section aria-labelledby="m"><h2 id="m">Mappings</h2><div class="scroll"><table>'
        '<thead><tr><th scope="col">Mapping</th><th scope="col">Delivered</th><th scope="col">Pending</th>'
        '<th scope="col">Retrying</th><th scope="col">In flight</th><th scope="col">Failed attempts</th>'
        '<th scope="col">Dead letters</th><th scope="col">Gleap latency</th></tr></thead><tbody>{}</tbody>'
        '</table></div><p class="hint">Delivered, failed attempts and latency: this process since it started '
        "(latency: mean over the last minute with requests). Pending, retrying, in flight, dead letters: the "
        "queue now. {}</p></section>"
    ).format(join(rows), note)


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
