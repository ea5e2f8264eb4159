"""`BatchLimit`: a binary search for the batch size the destination accepts, relaxed after successes."""

from __future__ import annotations

from gleap_actions.deliver.batchlimit import BatchLimit


def test_a_413_halves_the_limit_and_successes_search_up_to_below_the_refused_size() -> None:
    limit = BatchLimit(1_000_000, relax_after=600)
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
    limit = BatchLimit(100, relax_after=3)
    limit.refused(20)
    limit.accepted(10)
    assert limit.current == 15
    limit.accepted(15)
    limit.accepted(15)  # the third success since the 413: the refused bound doubles to 40
    assert limit.current == 27
    for _ in range(3):
        limit.accepted(27)
    assert limit.current == 53  # the bound doubled to 80
    for _ in range(3):
        limit.accepted(53)
    assert limit.current == 100  # doubled past the configured limit: back to it
    limit.refused(30)
    limit.accepted(30)
    assert limit.current == 100


def test_a_single_large_event_never_lowers_the_limit_below_one() -> None:
    limit = BatchLimit(1000)
    limit.refused(1)
    assert limit.current == 1


def test_a_413_after_relaxing_starts_from_the_relaxed_bound() -> None:
    limit = BatchLimit(1_000_000, relax_after=1)
    limit.refused(20_000)
    limit.accepted(10_000)  # the bound relaxed to 40 000
    limit.refused(30_000)
    assert limit.current == 20_000


def test_a_413_of_a_size_accepted_before_lowers_what_is_proven_below_it() -> None:
    limit = BatchLimit(100)
    limit.accepted(50)
    limit.refused(40)  # the destination lowered its limit
    assert limit.proven == 39
    assert limit.current == 39  # within 1/16 of the refused size: what is now known to pass


def test_successes_are_counted_afresh_after_each_413() -> None:
    limit = BatchLimit(100, relax_after=2)
    limit.refused(20)
    limit.accepted(10)
    limit.refused(20)  # the success before this 413 does not count towards relaxing
    limit.accepted(15)
    assert limit.current == 17  # still searching below 20
    limit.accepted(17)
    assert limit.current == 28  # two successes since the 413: the bound doubled to 40


def test_each_relaxation_waits_for_relax_after_successes_of_its_own() -> None:
    limit = BatchLimit(1000, relax_after=2)
    limit.refused(100)
    limit.accepted(10)
    limit.accepted(10)  # relaxed: the refused bound doubles to 200
    assert limit.current == 105
    limit.accepted(10)
    assert limit.current == 105  # one success since relaxing: not yet
    limit.accepted(10)
    assert limit.current == 205


def test_a_refused_size_relaxed_past_the_configured_size_is_forgotten() -> None:
    limit = BatchLimit(100, relax_after=1)
    limit.refused(60)
    limit.accepted(59)  # the bound would double to 120, beyond the configured 100
    assert limit.current == 100


def test_a_refused_size_relaxed_to_exactly_the_configured_size_is_still_a_bound() -> None:
    limit = BatchLimit(100, relax_after=1)
    limit.refused(50)
    limit.accepted(40)  # the bound doubles to 100: a batch of 100 is not known to pass
    assert limit.current == 70
