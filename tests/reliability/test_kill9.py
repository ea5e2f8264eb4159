"""`kill -9` of the service, repeatedly, under steady load: every event answered 200 is delivered.

Duplicates are counted and told apart (`harness.duplicate_causes`): requests in flight at Gleap when the
process died (at-least-once: Gleap's track API has no idempotency key) and requests answered 2xx but not
yet acknowledged in the queue. docs/reliability.md has the figures of the long forms.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator

import pytest

from gleap_actions.sandbox import Faults, SandboxThread

from .conftest import StartServe
from .harness import (
    SOAK,
    TOKEN,
    Client,
    Load,
    assert_no_secrets,
    duplicate_causes,
    reconcile,
    record,
    wait_until,
)

KILLS = 30 if SOAK else 3
EVENTS = 200_000 if SOAK else 3_000
SLOW_KILLS = 10 if SOAK else 2
SLOW_EVENTS = 40_000 if SOAK else 12_200

LoggedSandbox = Callable[[float], SandboxThread]


@pytest.fixture
def logged_sandbox() -> Iterator[LoggedSandbox]:
    """A sandbox answering after `latency` seconds that logs every request (to classify duplicates)."""
    with contextlib.ExitStack() as stack:

        def start(latency: float) -> SandboxThread:
            faults = Faults(rate_limit=None, latency=latency)
            return stack.enter_context(SandboxThread(TOKEN, faults=faults, request_log_size=10_000_000))

        yield start


def kill_under_load(
    logged_sandbox: LoggedSandbox,
    serve: StartServe,
    *,
    name: str,
    latency: float,
    kills: int,
    events: int,
    pause: tuple[float, float],
    seed: int,
) -> None:
    """Load at 1,000 events/s, `kills` kills -9 (each after a pause drawn from `pause`) and restarts; then
    nothing lost, nothing dead-lettered, no secret anywhere; the figures recorded."""
    sandbox = logged_sandbox(latency)
    service = serve(sandbox.url)
    load = Load(service.url, events, rate=1000, max_seconds=kills * 10 + 60).start()
    rng = random.Random(seed)
    times: list[float] = []
    for _ in range(kills):
        time.sleep(rng.uniform(*pause))
        times.append(time.time())
        service.kill9()
        service.start()
    load.stop()
    client = Client(service.url)
    wait_until(client.queue_empty, 60, "queue drained")
    report = reconcile(load, sandbox.state, client.dead_letters())
    causes = duplicate_causes(load, sandbox.state, times, latency)
    record(
        name,
        report,
        kills=kills,
        answered_not_acked=causes.answered_not_acked,
        in_flight=causes.in_flight,
    )
    assert report.accepted > 0
    assert report.lost == 0, report
    assert report.dead_lettered == 0, report
    assert causes.answered_not_acked + causes.in_flight == report.duplicates
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])


def test_kill_9_repeatedly_under_load_loses_nothing(logged_sandbox: LoggedSandbox, serve: StartServe) -> None:
    kill_under_load(
        logged_sandbox,
        serve,
        name="kill -9",
        latency=0.0,
        kills=KILLS,
        events=EVENTS,
        pause=(0.5, 2.0),
        seed=6,
    )


def test_kill_9_with_gleap_answering_in_half_a_second(
    logged_sandbox: LoggedSandbox, serve: StartServe
) -> None:
    kill_under_load(
        logged_sandbox,
        serve,
        name="kill -9, Gleap in 0.5 s",
        latency=0.5,
        kills=SLOW_KILLS,
        events=SLOW_EVENTS,
        pause=(2.0, 4.0),
        seed=12,
    )
