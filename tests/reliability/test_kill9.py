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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Scenario:
    """Load at 1,000 events/s with Gleap answering after `latency` s; `kills` kills -9, each after a pause
    drawn from `pause`, and restarts."""

    name: str
    latency: float
    kills: int
    events: int
    pause: tuple[float, float]
    seed: int


SCENARIOS = [
    Scenario("kill -9", 0.0, KILLS, EVENTS, (0.5, 2.0), seed=6),
    Scenario("kill -9, Gleap in 0.5 s", 0.5, SLOW_KILLS, SLOW_EVENTS, (2.0, 4.0), seed=12),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=["gleap_at_once", "gleap_in_half_a_second"])
def test_kill_9_repeatedly_under_load_loses_nothing(
    scenario: Scenario, logged_sandbox: LoggedSandbox, serve: StartServe
) -> None:
    """Nothing lost, nothing dead-lettered, no secret anywhere; the figures recorded."""
    sandbox = logged_sandbox(scenario.latency)
    service = serve(sandbox.url)
    load = Load(service.url, scenario.events, rate=1000, max_seconds=scenario.kills * 10 + 60).start()
    rng = random.Random(scenario.seed)
    times: list[float] = []
    for _ in range(scenario.kills):
        time.sleep(rng.uniform(*scenario.pause))
        times.append(time.time())
        service.kill9()
        service.start()
    load.stop()
    client = Client(service.url)
    wait_until(client.queue_empty, 60, "queue drained")
    report = reconcile(load, sandbox.state, client.dead_letters())
    causes = duplicate_causes(load, sandbox.state, times, scenario.latency)
    record(
        scenario.name,
        report,
        kills=scenario.kills,
        answered_not_acked=causes.answered_not_acked,
        in_flight=causes.in_flight,
    )
    assert report.accepted > 0
    assert report.lost == 0, report
    assert report.dead_lettered == 0, report
    assert causes.answered_not_acked + causes.in_flight == report.duplicates
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])
