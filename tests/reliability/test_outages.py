"""Gleap outages under load (503, refused connections, no answer at all): afterwards everything is
delivered in bounded time, without a retry storm; then a 429 storm with Retry-After."""

from __future__ import annotations

import time

import pytest

from gleap_actions.sandbox import Outage, SandboxThread

from .conftest import StartServe
from .harness import SOAK, Client, Load, assert_no_secrets, reconcile, record, wait_until

OUTAGE = 60.0 if SOAK else 2.5
RATE = 300.0  # events/s offered during the whole scenario
# Attempts per second while Gleap is down: backoff and the adaptive concurrency keep it low whatever the
# backlog (a storm would be hundreds per second: every claimed batch retried at once, again and again).
MAX_ATTEMPTS_PER_SECOND = 25.0
RECOVERY = 30.0  # seconds after the outage within which the backlog must be delivered
# Production-like backoff in the long form (a minute of outage); short in CI so retries happen at all.
BACKOFF = (
    {"initial_backoff": 1.0, "max_backoff": 10.0} if SOAK else {"initial_backoff": 0.1, "max_backoff": 1.0}
)


@pytest.mark.parametrize("mode", ["503", "refuse", "hang"])
def test_outage_under_load_then_everything_delivered(
    mode: str, sandbox: SandboxThread, serve: StartServe
) -> None:
    service = serve(sandbox.url, **BACKOFF)
    client = Client(service.url)
    events = int(RATE * (OUTAGE + 2.0))
    load = Load(service.url, events, rate=RATE, max_seconds=OUTAGE + 60).start()
    time.sleep(0.5)
    before = client.metric("gleap_actions_requests_total")
    if mode == "hang":  # connections accepted, requests never answered: client timeouts
        sandbox.set_faults(timeout_rate=1.0)
    else:
        sandbox.set_faults(outage=Outage(duration=OUTAGE, mode=mode))  # type: ignore[arg-type]
    time.sleep(OUTAGE)
    if mode == "hang":
        sandbox.set_faults(timeout_rate=0.0)
    attempts = client.metric("gleap_actions_requests_total") - before
    ended = time.monotonic()
    load.wait(60)
    wait_until(client.queue_empty, RECOVERY + 60, "backlog delivered after the outage")
    recovery = time.monotonic() - ended
    report = reconcile(load, sandbox.state, client.dead_letters())
    record(
        f"outage {mode} {OUTAGE:g}s",
        report,
        attempts_during_outage=int(attempts),
        recovery_s=f"{recovery:.1f}",
    )
    assert report.lost == 0 and report.dead_lettered == 0, report
    assert report.accepted == events
    assert recovery < RECOVERY, f"recovery took {recovery:.1f} s"
    assert attempts / OUTAGE < MAX_ATTEMPTS_PER_SECOND, f"{attempts:.0f} attempts in {OUTAGE:g} s"
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])


def test_429_storm_slows_to_the_allowed_rate(sandbox: SandboxThread, serve: StartServe) -> None:
    limit, window = 4, 1.0  # requests per window per endpoint; the sandbox answers 429 + Retry-After
    seconds = 60.0 if SOAK else 4.0
    service = serve(sandbox.url, max_concurrency=4)
    client = Client(service.url)
    sandbox.set_faults(rate_limit=limit, rate_limit_window=window)
    load = Load(service.url, int(RATE * seconds), batch=5, rate=RATE, max_seconds=seconds + 60).start()
    load.wait(seconds + 60)
    wait_until(client.queue_empty, 120, "everything delivered under the rate limit")
    report = reconcile(load, sandbox.state, client.dead_letters())
    statuses = sandbox.state.stats().requests_by_status
    ok, limited = statuses.get("200", 0), statuses.get("429", 0)
    record(f"429 storm {seconds:g}s", report, requests_200=ok, requests_429=limited)
    assert report.lost == 0 and report.dead_lettered == 0, report
    assert limited > 0  # the storm happened
    # Retry-After pauses every sender. A 429 means the window before it holds `limit` successes; the
    # pause (whole seconds, at least the window) empties the window, so each burst of 429s needs
    # `limit` new successes, and a burst is only the requests already on their way (`max_concurrency`
    # = limit): no more 429s than successes (measured: about 1 for 5). Without the pause the other
    # senders keep hitting the limit: more 429s than successes (measured: 75 for 29).
    assert limited <= ok, statuses
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])
