"""Definitions evaluated over one `Profile` share the chains and numbers they have in common, and reducers
kept up to date across evaluations (folds) read only new events: each result, and each next change, is
what a full evaluation over a profile of its own gives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from audience_support import NOW, identify, track
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.audiences import compile_definition
from gleap_actions.audiences.profile import Profile, ProfileEvent, read_event
from gleap_actions.audiences.values import to_micros

A = "event('A')"
AUDIENCES = [
    f"{A}.within(2 hours).count() >= 2",
    f"{A}.within(2 hours).sum(property('p')) > 3",
    f"{A}.within(2 hours).where(property('p') = true).count() >= 1",
    f"{A}.within(2 hours).where(property('p') = 1).count() >= 1",  # 1 is not true: not the chain above
    f"{A}.within(2 hours).where(property('p') = trait('t')).count() >= 1",  # reads a trait: not shared
    f"{A}.between(1 hours, 3 hours).count() >= 1 AND NOT {A}.within(1 hours).count() >= 1",
    f"{A}.expires_after(30 minutes).count() >= 2",
    f"{A}.where(event('B').within(parent: 1 hours).count() >= 1).count() >= 1",
]
TRAITS = [
    f"{A}.within(2 hours).avg(property('p'))",
    f"{A}.within(2 hours).max(property('p'))",
    f"{A}.within(2 hours).min(property('p') as string)",
    f"{A}.within(2 hours).last(property('p'))",
    f"{A}.sum(property('p'))",
    f"{A}.where(property('p') > 1).within(2 hours).unique(property('p')).count()",
]
DEFINITIONS = [compile_definition(t, kind="audience") for t in AUDIENCES] + [
    compile_definition(t, kind="computed_trait") for t in TRAITS
]

step = st.one_of(
    st.builds(
        lambda name, minutes, value: track(name, timedelta(minutes=minutes), p=value),
        st.sampled_from(["A", "A", "B"]),
        st.integers(-90, 240),  # negative: an event in the future of now
        st.sampled_from([1, 2, 5, 1.5, True, "1", "x", None]),
    ),
    st.builds(lambda value: identify(timedelta(minutes=300), t=value), st.sampled_from([1, True, "x"])),
)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(step, max_size=12), later=st.integers(0, 400))
def test_a_shared_profile_gives_what_a_profile_of_its_own_gives(
    events: list[dict[str, Any]], later: int
) -> None:
    now = NOW + timedelta(minutes=later)
    shared = Profile(events)
    for definition in DEFINITIONS:
        alone = definition.evaluate_with_next_change(Profile(events), now)
        assert definition.evaluate_with_next_change(shared, now) == alone, definition.text
        assert definition.evaluate(shared, now) == alone[0], definition.text


def test_a_chain_reading_a_trait_sees_the_value_another_definition_just_computed() -> None:
    definition = DEFINITIONS[4]  # where(property('p') = trait('t'))
    events = [track("A", timedelta(minutes=5), p=2)]
    profile = Profile(events, computed={"t": 1})
    assert definition.evaluate(profile, NOW) is False
    profile.computed["t"] = 2  # as the compute stage does when a key read as a trait changes
    assert definition.evaluate(profile, NOW) is True


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(step, st.integers(0, 90)),  # an event, then minutes the clock moves
        max_size=12,
    ),
    start=st.integers(-120, 0),
)
def test_reducers_kept_up_to_date_across_evaluations_give_a_full_evaluation(
    steps: list[tuple[dict[str, Any], int]], start: int
) -> None:
    # As the compute stage does: events read once, a new Profile of them at each evaluation, the folds
    # kept from one evaluation to the next; the value and the next change must be a full evaluation's.
    folds: dict[int, Any] = {}
    read: list[ProfileEvent] = []
    now = NOW + timedelta(minutes=start)
    for position, (event, minutes) in enumerate(steps, 1):
        parsed = read_event(event, position)
        if parsed is not None:
            read.append(parsed)
        now += timedelta(minutes=minutes)
        instant = to_micros(now)
        profile = Profile.of_read(list(read))
        profile.folds = folds
        raw = [e.raw for e in read]
        for definition in DEFINITIONS:
            value, upcoming = definition.evaluate_at(profile, instant, 0)
            full = definition.evaluate_at(Profile(raw), instant, 0)
            assert (type(value), value, upcoming) == (type(full[0]), *full), definition.text
