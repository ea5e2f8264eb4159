"""`Definition.next_change`: the first instant after now at which the result changes with no new event.

Property: over random event streams and clocks, the result is the same at every probed instant strictly
between now and next_change (every window edge, date edge and event time, and one microsecond before each),
and differs at next_change; with no next change, it is the same at every probed instant after now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from audience_support import DAY, HOUR, NOW, identify, iso, track
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.audiences import compile_definition
from gleap_actions.audiences.definition import MAX_CANDIDATES

MICRO = timedelta(microseconds=1)
# Every duration the definitions below use: probes are placed at event and date times plus or minus these.
DURATIONS = [timedelta(0), HOUR, 2 * DAY, 5 * DAY, 7 * DAY, 10 * DAY]
DEFINITIONS = [
    ("audience", "event('A').within(7 days).count() >= 2"),
    (
        "audience",
        "event('A').between(2 days, 5 days).count() >= 1 AND NOT event('B').within(2 days).count() >= 1",
    ),
    (
        "audience",
        "event('A').where(event('B').within(parent: 2 days).count() >= 1).within(10 days).count() >= 1",
    ),
    ("audience", "trait('d').within_last(2 days) OR trait('d').within_next(5 days)"),
    ("audience", "trait('d').before_last(2 days) AND NOT trait('d').after_next(1 hour)"),
    ("audience", "trait('d').after_next(1 hour)"),
    ("audience", "event('A').where(property('d').within_last(2 days)).count() >= 1"),
    ("audience", "event('B').last(property('d')).within_next(7 days) OR event('A').count() >= 3"),
    ("computed_trait", "event('A').within(7 days).sum(property('v'))"),
    ("computed_trait", "event('A').expires_after(1 hour).count()"),
    ("computed_trait", "event('A').within(5 days).last(property('v'))"),
    ("computed_trait", "event('B').expires_after(2 days).within(5 days).max(property('v'))"),
    ("computed_trait", "event('A').between(2 days, 7 days).unique(property('v'))"),
]
COMPILED = [compile_definition(text, kind=kind) for kind, text in DEFINITIONS]  # type: ignore[arg-type]

# Offsets on a coarse grid, so that events often share a time or sit exactly on another's window edge.
offsets = st.integers(min_value=-15 * 24, max_value=3 * 24).map(lambda hours: timedelta(hours=hours))


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        at = draw(offsets)
        kind = draw(st.sampled_from(["A", "A", "B", "identify"]))
        date = iso(NOW + draw(offsets))
        # Some calls are anonymous: the profile becomes eligible when its first userId comes.
        user = draw(st.sampled_from(["u1", "u1", None]))
        if kind == "identify":
            events.append(identify(-at, user=user, d=date))
        else:
            events.append(track(kind, -at, user=user, v=draw(st.integers(0, 3)), d=date))
    return events


def probes(events: list[dict[str, Any]]) -> set[datetime]:
    moments = {NOW}
    for event in events:
        moments.add(datetime.fromisoformat(event["timestamp"]))
        date = (event.get("properties") or event.get("traits") or {}).get("d")
        if date:
            moments.add(datetime.fromisoformat(date))
    found = set()
    for moment in moments:
        for duration in DURATIONS:
            for edge in (moment + duration, moment - duration):
                found.update((edge, edge - MICRO, edge + MICRO))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(DEFINITIONS) - 1),
    events=streams(),
    shift=st.integers(min_value=-10 * 24, max_value=5 * 24),
)
def test_no_change_before_next_change_and_a_change_at_it(
    index: int, events: list[dict[str, Any]], shift: int
) -> None:
    definition = COMPILED[index]
    now = NOW + timedelta(hours=shift)
    current = definition.evaluate(events, now)
    upcoming = definition.next_change(events, now)
    if upcoming is not None:
        assert upcoming > now
        assert definition.evaluate(events, upcoming) != current
        if upcoming - MICRO > now:
            assert definition.evaluate(events, upcoming - MICRO) == current
    for probe in probes(events):
        if probe > now and (upcoming is None or probe < upcoming):
            assert definition.evaluate(events, probe) == current, (probe, upcoming)


def test_the_example_expiry() -> None:
    definition = compile_definition("event('Order Completed').within(7 days).count() >= 1")
    events = [track("Order Completed", DAY), track("Order Completed", 3 * DAY)]
    assert definition.next_change(events, NOW) == NOW + 6 * DAY  # when the newer order turns 7 days old
    assert definition.evaluate(events, NOW + 6 * DAY - MICRO) is True
    assert definition.evaluate(events, NOW + 6 * DAY) is False
    assert definition.next_change(events, NOW + 6 * DAY) is None


def test_nothing_time_dependent_has_no_next_change() -> None:
    definition = compile_definition("event('A').count() >= 1 AND trait('plan') = 'pro'")
    assert definition.next_change([track("A", DAY), identify(DAY, plan="pro")], NOW) is None


def test_an_event_stamped_in_the_future_is_a_change() -> None:
    definition = compile_definition("event('A').count() >= 1")
    assert definition.next_change([track("A", -HOUR)], NOW) == NOW + HOUR


@pytest.mark.parametrize(
    ("text", "traits", "expected"),
    [
        ("trait('d').within_last(7 days)", {"d": iso(NOW - DAY)}, NOW + 6 * DAY),
        ("trait('d').within_last(7 days)", {"d": iso(NOW + DAY)}, NOW + DAY),
        ("trait('d').within_next(7 days)", {"d": iso(NOW + 8 * DAY)}, NOW + DAY),
        ("trait('d').within_next(7 days)", {"d": iso(NOW + DAY)}, NOW + DAY),
        ("trait('d').before_last(1 day)", {"d": iso(NOW)}, NOW + DAY),
        ("trait('d').after_next(1 day)", {"d": iso(NOW + 3 * DAY)}, NOW + 2 * DAY),
        ("trait('d').before_date(2030-01-01)", {"d": iso(NOW)}, None),
    ],
)
def test_date_comparisons_change_at_their_edges(
    text: str, traits: dict[str, Any], expected: datetime | None
) -> None:
    assert compile_definition(text).next_change([identify(DAY, **traits)], NOW) == expected


def test_a_session_change_is_its_expiry() -> None:
    definition = compile_definition("event('A').expires_after(1 hour).count()", kind="computed_trait")
    assert definition.next_change([track("A", HOUR / 4)], NOW) == NOW + HOUR * 3 / 4


def test_past_the_candidate_limit_it_answers_an_instant_before_which_nothing_changes() -> None:
    definition = compile_definition("event('A').within(7 days).count() >= 1")
    events = [track("A", timedelta(minutes=i)) for i in range(MAX_CANDIDATES + 40)]
    first = definition.next_change(events, NOW)
    assert first is not None
    assert definition.evaluate(events, first) is True  # not a change yet: ask again from there
    final = definition.next_change(events, first)
    assert final == NOW + 7 * DAY  # the newest event (age 0) leaves
    assert definition.evaluate(events, final) is False
