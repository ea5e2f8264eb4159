"""`kill -9` of the service, repeatedly, under steady load: every event answered 200 is delivered."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

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
LATENCY = 0.5


@pytest.fixture
def slow_sandbox() -> Iterator[SandboxThread]:
    """Gleap answering in 0.5 s, every request logged (to tell where duplicates come from)."""
    faults = Faults(rate_limit=None, latency=LATENCY)
    with SandboxThread(api_token=TOKEN, faults=faults, request_log_size=1_000_000) as running:
        yield running


def test_kill_9_repeatedly_under_load_loses_nothing(sandbox: SandboxThread, serve: StartServe) -> None:
    service = serve(sandbox.url)
    load = Load(service.url, EVENTS, rate=1000, max_seconds=KILLS * 10 + 60).start()
    rng = random.Random(6)
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 2.0))
        service.kill9()
        service.start()
    load.stop()
    client = Client(service.url)
    wait_until(client.queue_empty, 60, "queue drained")
    report = reconcile(load, sandbox.state, client.dead_letters())
    record("kill -9", report, kills=KILLS)
    assert report.accepted > 0
    assert report.lost == 0, report
    assert report.dead_lettered == 0, report
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])


def test_kill_9_with_gleap_answering_in_half_a_second(slow_sandbox: SandboxThread, serve: StartServe) -> None:
    """Duplicates after `kill -9` are the requests in flight at Gleap (at-least-once) plus those answered
    but not yet acknowledged: the figures say how many of each (docs/reliability.md)."""
    service = serve(slow_sandbox.url)
    load = Load(service.url, 12_200, rate=1000, max_seconds=SLOW_KILLS * 8 + 60).start()
    rng = random.Random(12)
    kills: list[float] = []
    for _ in range(SLOW_KILLS):
        time.sleep(rng.uniform(2.0, 4.0))
        kills.append(time.time())
        service.kill9()
        service.start()
    load.stop()
    client = Client(service.url)
    wait_until(client.queue_empty, 60, "queue drained")
    report = reconcile(load, slow_sandbox.state, client.dead_letters())
    causes = duplicate_causes(load, slow_sandbox.state, kills, LATENCY)
    record(
        "kill -9, Gleap in 0.5 s",
        report,
        kills=SLOW_KILLS,
        answered_not_acked=causes.answered_not_acked,
        in_flight=causes.in_flight,
    )
    from .harness import GAPS
    print(sorted(GAPS)[::20])
    assert report.lost == 0 and report.dead_lettered == 0, report
    assert causes.answered_not_acked + causes.in_flight == report.duplicates
