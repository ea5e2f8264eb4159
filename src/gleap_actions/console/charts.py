"""Charts as inline SVG, drawn on the server: stacked bars of outcome counts per time bucket."""

from __future__ import annotations

from markupsafe import Markup

from gleap_actions.console.activity import Series
from gleap_actions.console.html import join, when

COLOURS = {
    "delivered": "#2f855a",
    "retrying": "#d69e2e",
    "failed": "#c05621",
    "dead_lettered": "#9b2c2c",
    "filtered": "#718096",
}
WIDTH, HEIGHT, PAD = 600, 110, 18


def legend(states: tuple[str, ...]) -> Markup:
    """The colour key for `states`."""
    return Markup('<ul class="legend">{}</ul>').format(
        join(
            Markup('<li><span class="swatch {}"></span>{}</li>').format(s, s.replace("_", "-"))
            for s in states
        )
    )


def stacked(series: Series, mapping: str, title: str) -> Markup:
    """Stacked bars of `mapping`'s states over `series`' buckets, with a text summary for screen readers."""
    states = series.counts[mapping]
    n = len(series.starts)
    totals = [sum(values[i] for values in states.values()) for i in range(n)]
    peak = max(totals) if totals else 0
    step = WIDTH / max(1, n)
    bars: list[Markup] = []
    for i in range(n):
        y = float(HEIGHT - PAD)
        for state, values in states.items():
            if not values[i]:
                continue
            h = (HEIGHT - 2 * PAD) * values[i] / peak
            y -= h
            bars.append(
                Markup(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                    "<title>{}: {} {}</title></rect>"
                ).format(
                    i * step + 0.5,
                    y,
                    max(1.0, step - 1),
                    h,
                    COLOURS[state],
                    when(series.starts[i]),
                    values[i],
                    state.replace("_", "-"),
                )
            )
    summary = ", ".join(f"{sum(v)} {s.replace('_', '-')}" for s, v in states.items())
    label = f"{title}: {summary}" if peak else f"{title}: nothing yet"
    axis = Markup(
        '<text x="0" y="{}" class="axis">{}</text>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">now</text>'
        '<text x="0" y="12" class="axis">max {}</text>'
        '<line x1="0" x2="{}" y1="{}" y2="{}" class="base"/>'
    ).format(HEIGHT - 4, "-1 " + series.span.name, WIDTH, HEIGHT - 4, peak, WIDTH, HEIGHT - PAD, HEIGHT - PAD)
    return Markup(
        '<figure class="chart">'
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">'
        "{}{}</svg><figcaption>{}</figcaption></figure>"
    ).format(WIDTH, HEIGHT, label, axis, join(bars), label)


def levels(starts: list[float], values: list[int | None], title: str) -> Markup:
    """Bars of a level sampled per bucket (`None`: no reading), with a text summary for screen readers."""
    known = [v for v in values if v is not None]
    peak = max(known) if known else 0
    step = WIDTH / max(1, len(starts))
    bars = join(
        Markup(
            '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="#2b6cb0">'
            "<title>{}: {}</title></rect>"
        ).format(
            i * step + 0.5,
            HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / peak,
            max(1.0, step - 1),
            (HEIGHT - 2 * PAD) * value / peak,
            when(starts[i]),
            value,
        )
        for i, value in enumerate(values)
        if value
    )
    label = f"{title}: {known[-1]} now, at most {peak}" if known else f"{title}: no reading yet"
    axis = Markup(
        '<text x="0" y="{}" class="axis">-1 hour</text>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">now</text>'
        '<text x="0" y="12" class="axis">max {}</text>'
        '<line x1="0" x2="{}" y1="{}" y2="{}" class="base"/>'
    ).format(HEIGHT - 4, WIDTH, HEIGHT - 4, peak, WIDTH, HEIGHT - PAD, HEIGHT - PAD)
    return Markup(
        '<figure class="chart">'
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="none">'
        "{}{}</svg><figcaption>{}</figcaption></figure>"
    ).format(WIDTH, HEIGHT, label, axis, bars, label)
