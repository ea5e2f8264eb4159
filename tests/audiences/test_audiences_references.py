"""What a compiled definition tells the profile store: references, history per event name, longest window."""

# ruff: noqa: E501  (tables of definitions read best one case a line)

from __future__ import annotations

from datetime import timedelta

import pytest

from gleap_actions.audiences import compile_definition

DAY = timedelta(days=1)

CASES: list[tuple[str, set[str], set[str], set[str], dict[str, timedelta | None], timedelta | None]] = [
    ("event('A').within(7 days).count() >= 1", {"A"}, {"track"}, set(), {"A": 7 * DAY}, 7 * DAY),
    ("event('A').count() >= 1", {"A"}, {"track"}, set(), {"A": None}, None),
    ("trait('plan.name') = 'pro'", set(), {"identify"}, {"plan"}, {}, timedelta(0)),
    ("event('Page Viewed').within(1 hour).count() >= 1", {"Page Viewed"}, {"track", "page"}, set(), {"Page Viewed": timedelta(hours=1)}, timedelta(hours=1)),
    ("event('Screen Viewed').between(2 days, 9 days).count() >= 1", {"Screen Viewed"}, {"track", "screen"}, set(), {"Screen Viewed": 9 * DAY}, 9 * DAY),
    ("event('A').within(30 days).within(7 days).count() >= 1", {"A"}, {"track"}, set(), {"A": 7 * DAY}, 7 * DAY),
    ("event('A').within(7 days).count() >= 1 OR event('A').within(9 days).count() > 3", {"A"}, {"track"}, set(), {"A": 9 * DAY}, 9 * DAY),
    (
        "event('A').where(property('p') >= trait('t') AND event('B').within(parent: 5 days).count() >= 1).within(30 days).count() >= 1",
        {"A", "B"}, {"track", "identify"}, {"t"}, {"A": 30 * DAY, "B": 30 * DAY}, 30 * DAY,
    ),
    ("event('A').where(event('B').count() >= 1).within(3 days).count() >= 1", {"A", "B"}, {"track"}, set(), {"A": 3 * DAY, "B": None}, None),
    ("event('A').expires_after(1 hour).count()", {"A"}, {"track"}, set(), {"A": None}, None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "events", "calls", "traits", "history", "window"), CASES)
def test_references_history_and_window(
    text: str,
    events: set[str],
    calls: set[str],
    traits: set[str],
    history: dict[str, timedelta | None],
    window: timedelta | None,
) -> None:
    kind = "computed_trait" if text.endswith("count()") else "audience"
    definition = compile_definition(text, kind=kind)
    assert definition.references.events == events
    assert definition.references.call_types == calls
    assert definition.references.traits == traits
    assert dict(definition.history) == history
    assert definition.window == window
