import random

from hypothesis import given
from hypothesis import strategies as st

from gleap_actions.deliver.retry import RetryPolicy


def policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kw)


@given(attempts=st.integers(min_value=1, max_value=200))
def test_backoff_stays_between_initial_and_max(attempts: int) -> None:
    p = policy(initial_backoff=1.0, max_backoff=300.0)
    delay = p.backoff(attempts)
    assert 1.0 <= delay <= min(300.0, 2.0**attempts)


def test_backoff_grows_exponentially_with_jitter() -> None:
    p = policy(initial_backoff=1.0, max_backoff=10_000.0)
    early = [p.backoff(1) for _ in range(200)]
    late = [p.backoff(10) for _ in range(200)]
    assert max(early) <= 2.0
    assert sum(late) / len(late) > 100  # mean of U(1, 1024) is ~512
    assert len(set(late)) > 150  # jittered, not a fixed schedule


def test_first_failure_starts_the_window() -> None:
    p = policy(initial_backoff=1.0, max_backoff=5.0, window=100.0)
    at = p.next_attempt(attempts=1, first_attempt_at=None, now=1000.0)
    assert at is not None and 1001.0 <= at <= 1002.0


def test_retry_after_is_a_floor() -> None:
    p = policy(initial_backoff=1.0, max_backoff=5.0, window=100.0)
    at = p.next_attempt(attempts=1, first_attempt_at=1000.0, now=1000.0, retry_after=30.0)
    assert at == 1030.0


def test_retry_after_beyond_the_window_is_still_honoured() -> None:
    p = policy(initial_backoff=1.0, max_backoff=5.0, window=10.0)
    assert p.next_attempt(attempts=1, first_attempt_at=1000.0, now=1005.0, retry_after=60.0) == 1065.0


def test_last_attempt_is_clamped_to_the_end_of_the_window() -> None:
    p = policy(initial_backoff=100.0, max_backoff=100.0, window=10.0)
    assert p.next_attempt(attempts=3, first_attempt_at=1000.0, now=1005.0) == 1010.0


def test_window_over_means_dead_letter() -> None:
    p = policy(window=10.0)
    assert p.next_attempt(attempts=5, first_attempt_at=1000.0, now=1010.0) is None
    assert p.next_attempt(attempts=5, first_attempt_at=1000.0, now=1009.9) is not None


def test_the_cap_stops_doubling_after_62_attempts() -> None:
    p = policy(initial_backoff=1.0, max_backoff=1e30)
    assert p.backoff(100) == random.Random(7).uniform(1.0, 2.0**62)
