"""The audiences page: each configured audience and computed trait (definition, sync state, members now and
over the last hour) and the latest entries and exits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from markupsafe import Markup

from gleap_actions.config.audiences import Computation
from gleap_actions.console.audiences import Change, MemberSeries
from gleap_actions.console.charts import levels
from gleap_actions.console.html import code, empty, join, layout, when

EXAMPLE = """audiences:
  - name: Buyers
    definition: "event('Order Completed').count() >= 1"
"""


@dataclass(frozen=True, slots=True)
class AudiencesView:
    """Everything on the page."""

    computations: Sequence[Computation]
    states: Mapping[str, str]  # key -> state in the profile store (absent: not started)
    members: Mapping[str, int]  # the members gauge now
    computing: bool  # this process runs the compute stage
    series: MemberSeries
    changes: Sequence[Change]


def page(view: AudiencesView, csrf: str) -> Markup:
    """The whole page."""
    if not view.computations:
        body = empty(
            "No audiences or computed traits are configured.",
            Markup(
                "Add an <code>audiences:</code> (or <code>computed_traits:</code>) list to the config file, "
                "for example:{}then restart <code>serve</code>. "
                "docs/audiences.md describes the definitions and how they reach Gleap."
            ).format(code(EXAMPLE)),
        )
        return layout("Audiences", "audiences", body, csrf=csrf)
    note = (
        ""
        if view.computing
        else "This node does not compute audiences: member counts and changes are on the nodes that deliver."
    )
    body = Markup("{}{}{}").format(_table(view, note), _each(view), _changes(view.changes))
    return layout("Audiences", "audiences", body, csrf=csrf)


def _table(view: AudiencesView, note: str) -> Markup:
    rows = join(
        Markup(
            '<tr><th scope="row"><a href="#a-{}">{}</a></th><td data-testid="audience-members-{}">{}</td>'
            "<td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>"
        ).format(
            c.key,
            c.name,
            c.key,
            view.members.get(c.key, 0) if view.computing else "–",
            c.key,
            c.kind.replace("_", " "),
            "yes" if c.enabled else "no",
            view.states.get(c.key, "not started"),
        )
        for c in view.computations
    )
    return Markup(
        '<section aria-labelledby="d"><h2 id="d">Definitions</h2><div class="scroll"><table>'
        '<thead><tr><th scope="col">Name</th><th scope="col">Members</th><th scope="col">Key</th>'
        '<th scope="col">Kind</th><th scope="col">Enabled</th><th scope="col">Sync state</th></tr>'
        '</thead><tbody>{}</tbody></table></div><p class="hint">Sync state: <em>syncing</em> while a new or '
        "changed definition is evaluated for every profile, then <em>live</em>. Members: profiles in the "
        "audience, or with a value of the computed trait, as the compute stage last counted them (every "
        "few seconds). {}</p></section>"
    ).format(rows, note)


def _each(view: AudiencesView) -> Markup:
    boxes = join(
        Markup('<div class="chart-box" id="a-{}"><h4>{}</h4>{}{}</div>').format(
            c.key,
            c.name,
            code(c.definition.text, "Definition"),
            levels(view.series.starts, view.series.counts.get(c.key, []), f"{c.name} members"),
        )
        for c in view.computations
    )
    return Markup(
        '<section aria-labelledby="o"><h2 id="o">Members over the last hour (per minute)</h2>'
        '<div class="charts">{}</div><p class="hint">Read from this process\'s metrics every 5 s since it '
        "started: a restart starts the charts again.</p></section>"
    ).format(boxes)


def _changes(changes: Sequence[Change]) -> Markup:
    if not changes:
        listing = empty(
            "No entries or exits yet.",
            "Changes appear here as the compute stage delivers them (the last 100 since this process"
            " started).",
        )
    else:
        rows = join(
            Markup(
                '<tr data-testid="audience-change-{}"><td>{}</td><td><code>{}</code></td><td>{}</td>'
                "<td>{}</td></tr>"
            ).format(ch.key, when(ch.at), ch.key, ch.user, _what(ch.value))
            for ch in changes
        )
        listing = Markup(
            '<div class="scroll"><table><thead><tr><th scope="col">When</th><th scope="col">Key</th>'
            '<th scope="col">User</th><th scope="col">Change</th></tr></thead><tbody>{}</tbody></table></div>'
            '<p class="hint">The last 100 changes this process delivered since it started.</p>'
        ).format(rows)
    return Markup(
        '<section aria-labelledby="r"><h2 id="r">Recent entered and exited</h2>{}</section>'
    ).format(listing)


def _what(value: object) -> str:
    if value is True:
        return "entered"
    if value is False:
        return "exited"
    return "value " + orjson.dumps(value).decode()
