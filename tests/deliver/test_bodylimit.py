"""`BodyLimit`: a binary search for the body size the destination accepts, relaxed over time."""

from __future__ import annotations

from gleap_actions.deliver.bodylimit import BodyLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_413_halves_the_limit_and_successes_search_up_to_below_the_refused_size() -> None:
    limit = BodyLimit(1_000_000, relax_after=600, clock=Clock())
    assert limit.current == 1_000_000
    limit.refused(80_000)
    assert limit.current == 40_000
    limit.accepted(40_000)
    assert limit.current == 60_000
    limit.refused(60_000)
    limit.accepted(50_000)
    assert limit.current == 55_000
    limit.accepted(55_000)
    limit.accepted(57_000)  # within 1/16 of the refused size: stay at what passes
    assert limit.current == 57_000


def test_the_refused_size_is_forgotten_step_by_step_and_a_larger_success_forgets_it() -> None:
    clock = Clock()
    limit = BodyLimit(100_000, relax_after=600, clock=clock)
    limit.refused(20_000)
    limit.accepted(10_000)
    assert limit.current == 15_000
    clock.now = 600
    assert limit.current == 25_000  # refused bound doubled to 40 000
    clock.now = 1200
    assert limit.current == 45_000
    clock.now = 1800
    assert limit.current == 100_000  # beyond the configured limit: back to it
    limit.refused(30_000)
    limit.accepted(30_000)
    assert limit.current == 100_000


def test_a_single_large_event_never_lowers_the_limit_below_one_byte() -> None:
    limit = BodyLimit(1000, clock=Clock())
    limit.refused(1)
    assert limit.current == 1


def test_a_413_after_relaxing_starts_from_the_relaxed_bound() -> None:
    clock = Clock()
    limit = BodyLimit(1_000_000, relax_after=600, clock=clock)
    limit.refused(20_000)
    clock.now = 600  # the bound relaxed to 40 000
    limit.refused(30_000)
    assert limit.current == 15_000
