import asyncio
import time

import pytest

from gleap_actions.deliver.concurrency import AdaptiveConcurrency
from gleap_actions.deliver.ratelimit import COOLDOWN, Aimd, RateLimiter


class FakeClock:
    """A manual clock so latency is exact; the limiter under test is real."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def round_trip(
    arc: AdaptiveConcurrency, clock: FakeClock, rtt: float, *, overloaded: bool = False
) -> None:
    """Fill the limit with requests of latency `rtt` and complete them all."""
    permits = [await arc.acquire() for _ in range(arc.limit)]
    clock.now += rtt
    for p in permits:
        await arc.release(p, overloaded=overloaded)


async def test_grows_by_one_per_round_trip_while_latency_is_stable() -> None:
    clock = FakeClock()
    arc = AdaptiveConcurrency(8, clock=clock)
    limits = []
    for _ in range(10):
        await round_trip(arc, clock, 0.05)
        limits.append(arc.limit)
    assert limits == [2, 3, 4, 5, 6, 7, 8, 8, 8, 8]


async def test_halves_once_per_round_trip_on_back_pressure() -> None:
    clock = FakeClock()
    arc = AdaptiveConcurrency(16, initial_limit=16, clock=clock)
    await round_trip(arc, clock, 0.05, overloaded=True)
    assert arc.limit == 8  # sixteen 429s in one round trip halve once, not sixteen times
    await round_trip(arc, clock, 0.05, overloaded=True)
    assert arc.limit == 4
    for _ in range(5):
        await round_trip(arc, clock, 0.05, overloaded=True)
    assert arc.limit == 1


async def test_halves_when_latency_rises_above_baseline() -> None:
    clock = FakeClock()
    arc = AdaptiveConcurrency(16, initial_limit=8, clock=clock)
    for _ in range(3):
        await round_trip(arc, clock, 0.05)
    before = arc.limit
    await round_trip(arc, clock, 0.5)
    assert arc.limit == before // 2


async def test_does_not_grow_when_demand_stays_below_the_limit() -> None:
    clock = FakeClock()
    arc = AdaptiveConcurrency(16, initial_limit=4, clock=clock)
    for _ in range(20):
        p = await arc.acquire()
        clock.now += 0.05
        await arc.release(p)
    assert arc.limit == 4


@pytest.mark.parametrize(
    ("kwargs", "rtts", "expected"),
    [
        # The slack is a tenth of the baseline: 1.25 s over a 1 s baseline is load, halve.
        ({}, [1.0, 1.0, 1.25], [(2, 1.0), (3, 1.0), (1, 1.196)]),
        # A latency exactly at baseline + slack (here `min_slack`) is not load yet: grow.
        ({"min_slack": 0.25}, [1.0, 1.25], [(2, 1.0), (3, 1.16)]),
        # A jump widens the mean deviation, so later latencies within it are not read as load.
        (
            {},
            [1.0, 2.0, 1.0, 1.0, 1.5, 1.0],
            [(2, 1.0), (1, 1.64), (2, 1.384), (3, 1.13824), (4, 1.42185984), (5, 1.054673035264)],
        ),
        # 3.2 s is above 1.64 + 2.5 mean deviations (0.48) + 0.164, so load, with the default scale.
        ({}, [1.0, 2.0, 3.2], [(2, 1.0), (1, 1.64), (1, 2.264)]),
    ],
)
async def test_limit_and_baseline_follow_each_round_trips_latency(
    kwargs: dict[str, float], rtts: list[float], expected: list[tuple[int, float]]
) -> None:
    """The limit and the latency baseline after each full round trip of these latencies, exactly."""
    clock = FakeClock()
    arc = AdaptiveConcurrency(64, clock=clock, **kwargs)
    seen = []
    for rtt in rtts:
        await round_trip(arc, clock, rtt)
        seen.append((arc.limit, arc.baseline))
    assert seen == [(limit, pytest.approx(baseline)) for limit, baseline in expected]


async def one_request(arc: AdaptiveConcurrency, clock: FakeClock) -> None:
    """One request alone, answered in a second."""
    permit = await arc.acquire()
    clock.now += 1.0
    await arc.release(permit)


async def assert_grows_on_the_second_of_two_successes(arc: AdaptiveConcurrency, clock: FakeClock) -> None:
    """At limit 2, both slots taken: the first success leaves the limit at 2, the second makes it 3."""
    assert arc.limit == 2
    permits = [await arc.acquire(), await arc.acquire()]
    clock.now += 1.0
    await arc.release(permits[0])
    assert arc.limit == 2
    await arc.release(permits[1])
    assert arc.limit == 3


async def test_after_growing_a_full_limit_of_successes_is_needed_again() -> None:
    """Growth to 2 starts the count afresh: one success of the next two does not grow the limit."""
    clock = FakeClock()
    arc = AdaptiveConcurrency(16, clock=clock)
    await one_request(arc, clock)
    await assert_grows_on_the_second_of_two_successes(arc, clock)


async def test_a_fresh_limiter_needs_a_full_limit_of_successes_to_grow() -> None:
    """Starting at 2 with the limit reached, one success of two does not grow it; the second does."""
    clock = FakeClock()
    arc = AdaptiveConcurrency(16, initial_limit=2, clock=clock)
    await assert_grows_on_the_second_of_two_successes(arc, clock)


@pytest.mark.parametrize(
    ("in_flight", "expected"),
    [
        # The two left in flight exactly fill the halved limit: it counts as reached.
        (3, [2, 2, 3, 3]),
        # Three left in flight, more than the halved limit.
        (4, [2, 2, 3, 3]),
    ],
)
async def test_a_decrease_restarts_the_count_and_knows_whether_the_limit_is_full(
    in_flight: int, expected: list[int]
) -> None:
    """After a back-pressure halving (4 -> 2), the requests still in flight (stale: they count neither
    way) tell whether the new limit is reached; then single requests, which never fill it, grow it only
    after a full limit of successes and only if it was reached."""
    clock = FakeClock()
    arc = AdaptiveConcurrency(16, initial_limit=4, clock=clock)
    permits = [await arc.acquire() for _ in range(in_flight)]
    clock.now += 1.0
    await arc.release(permits[0], overloaded=True)
    limits = [arc.limit]
    for permit in permits[1:]:
        await arc.release(permit)
    for _ in range(3):
        await one_request(arc, clock)
        limits.append(arc.limit)
    assert limits == expected


async def test_acquire_waits_for_a_free_slot() -> None:
    arc = AdaptiveConcurrency(4)
    first = await arc.acquire()
    waiter = asyncio.create_task(arc.acquire())
    await asyncio.sleep(0.01)
    assert not waiter.done() and arc.in_flight == 1
    await arc.release(first, measured=False)
    second = await asyncio.wait_for(waiter, 1)
    assert arc.in_flight == 1
    await arc.release(second, measured=False)
    assert arc.in_flight == 0 and arc.limit == 1


def test_rejects_a_zero_ceiling() -> None:
    with pytest.raises(ValueError, match=r"^max_limit must be at least 1$"):
        AdaptiveConcurrency(0)


@pytest.mark.parametrize("requests_per_minute", [1, 0.5])
def test_a_rate_of_one_a_minute_or_less_still_limits(requests_per_minute: float) -> None:
    """Only a rate of 0 or less is unlimited."""
    limiter = RateLimiter(requests_per_minute)
    assert not limiter.unlimited
    assert limiter.requests_per_minute == pytest.approx(requests_per_minute)


def test_recovery_after_a_429_follows_the_limiters_clock() -> None:
    """The clock given to the limiter drives the rate's recovery: halved, then back over `recovery`."""
    clock = FakeClock()
    clock.now = 100.0
    limiter = RateLimiter(60, recovery=10.0, clock=clock)
    limiter.throttled(None)
    assert limiter.requests_per_minute == pytest.approx(30)
    clock.now = 102.5
    assert limiter.requests_per_minute == pytest.approx(45)
    clock.now = 105.0
    assert limiter.requests_per_minute == pytest.approx(60)


async def test_rate_limiter_spaces_requests_at_the_configured_rate() -> None:
    limiter = RateLimiter(6000, burst=1)  # 100 per second
    start = time.monotonic()
    for _ in range(21):
        await limiter.acquire()
    elapsed = time.monotonic() - start
    assert 0.18 <= elapsed < 0.6


async def test_rate_limiter_is_shared_by_concurrent_senders() -> None:
    limiter = RateLimiter(6000, burst=1)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(21)))
    assert 0.18 <= time.monotonic() - start < 0.6


async def test_rate_limiter_pause_holds_everyone() -> None:
    limiter = RateLimiter(0)
    assert limiter.unlimited
    limiter.pause(0.2)
    start = time.monotonic()
    await asyncio.gather(limiter.acquire(), limiter.acquire())
    assert time.monotonic() - start >= 0.19


async def test_cancelled_wait_returns_its_token() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, burst=1, clock=clock)  # one per second
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    with pytest.raises(TimeoutError):  # one token given back, no more: the bucket is still empty
        await asyncio.wait_for(limiter.acquire(), 0.05)
    clock.now += 1.0
    await asyncio.wait_for(limiter.acquire(), 0.1)  # the cancelled reservation was given back


def test_429s_within_the_cooldown_of_a_decrease_halve_the_rate_once() -> None:
    clock = FakeClock()
    aimd = Aimd(recovery=100.0, clock=clock)
    aimd.decrease()
    clock.now = COOLDOWN / 2
    aimd.decrease()  # an answer to a request sent before the first 429: ignored
    assert aimd.factor() == pytest.approx(0.5 + COOLDOWN / 2 / 100)
    clock.now = COOLDOWN  # a full cooldown later: a new 429 halves again
    aimd.decrease()
    assert aimd.factor() == pytest.approx((0.5 + COOLDOWN / 100) / 2)


async def test_a_throttled_limiter_refills_at_the_rate_in_force() -> None:
    clock = FakeClock()
    clock.now = 100.0
    limiter = RateLimiter(60, burst=1, recovery=1e9, clock=clock)  # one per second; no recovery here
    await limiter.acquire()  # the bucket is empty
    clock.now = 101.0
    limiter.throttled(None)
    assert limiter.requests_per_minute == pytest.approx(30)
    await asyncio.wait_for(limiter.acquire(), 0.05)  # the token earned before the 429, at the old rate
    # Half a token a second now: 1.9 s hold 0.95 of a token, not enough for a request; 2 s hold one.
    clock.now = 102.9
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire(), 0.05)  # cancelled: its token is given back
    clock.now = 103.0
    await asyncio.wait_for(limiter.acquire(), 0.05)
