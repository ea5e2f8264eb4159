"""The credentials gate on a real event loop, and the outcome counters `send`'s summary reads."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcome import (
    Credentials,
    Delivered,
    Outcome,
    Retry,
    Skipped,
    classify,
    describe,
    load_signal,
)
from gleap_actions.deliver.outcomes import DeliveryOutcomes
from gleap_actions.engine.errors import FinalHTTPError, RetryableError


def _gate(probe_interval: float) -> tuple[CredentialsGate, CollectorRegistry]:
    registry = CollectorRegistry()
    return CredentialsGate(
        PipelineMetrics(registry), probe_interval=probe_interval, destination="eu"
    ), registry


def _paused_gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("gleap_actions_credentials_paused", {"destination": "eu"})


async def _until_open(gate: CredentialsGate) -> None:
    for _ in range(300):  # a generous deadline for a loaded machine; it usually takes one interval
        if not gate.paused:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the gate never reopened")


async def test_a_pause_alerts_once_and_a_probe_reopens_the_gate(caplog: pytest.LogCaptureFixture) -> None:
    gate, registry = _gate(probe_interval=0.05)
    with caplog.at_level(logging.INFO, logger="gleap_actions.deliver.gate"):
        gate.pause(403)
        gate.pause(401)  # still paused: no second alert, no second probe
        assert gate.paused and _paused_gauge(registry) == 1
        await _until_open(gate)
        gate.succeeded()
    assert _paused_gauge(registry) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "event=delivery_paused reason=invalid_credentials status=403 probe_interval=0.05 destination=eu",
        "event=delivery_reopened reason=probe destination=eu",
        "event=delivery_resumed reason=credentials_accepted destination=eu",
    ]


async def test_the_alert_stays_up_until_a_request_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    gate, registry = _gate(probe_interval=30.0)
    with caplog.at_level(logging.INFO, logger="gleap_actions.deliver.gate"):
        gate.pause(None)
        gate.resume()  # open again (a reloaded token), but not known to be good yet
        assert not gate.paused and _paused_gauge(registry) == 1
        gate.pause(401)  # refused again: the alert was never cleared, so it is not raised twice
        gate.close()
    assert [r.getMessage() for r in caplog.records] == [
        "event=delivery_paused reason=invalid_credentials status=None probe_interval=30.0 destination=eu",
        "event=delivery_reopened reason=resume destination=eu",
    ]


async def test_a_success_clears_the_alert_once_and_a_new_refusal_raises_it_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate, registry = _gate(probe_interval=30.0)
    with caplog.at_level(logging.INFO, logger="gleap_actions.deliver.gate"):
        gate.pause(401)
        gate.resume()
        gate.succeeded()
        gate.succeeded()  # the alert is already clear: nothing to say
        gate.pause(403)  # a new refusal after a success is a new alert
        gate.close()
    assert _paused_gauge(registry) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "event=delivery_paused reason=invalid_credentials status=401 probe_interval=30.0 destination=eu",
        "event=delivery_reopened reason=resume destination=eu",
        "event=delivery_resumed reason=credentials_accepted destination=eu",
        "event=delivery_paused reason=invalid_credentials status=403 probe_interval=30.0 destination=eu",
    ]


async def test_a_closed_gate_is_not_reopened_by_its_probe() -> None:
    gate, _ = _gate(probe_interval=0.01)
    gate.pause(401)
    gate.close()
    await asyncio.sleep(0.3)  # thirty intervals: a probe left scheduled would have reopened it
    assert gate.paused


def test_outcome_counters_add_up_and_a_refusal_without_status_is_a_401() -> None:
    outcomes = DeliveryOutcomes()
    outcomes.record_filtered("integrations", 2)
    outcomes.record_filtered("integrations", 3)
    outcomes.record_filtered("no_matching_mapping", 1)
    assert outcomes.filtered == {"integrations": 5, "no_matching_mapping": 1}
    started = time.monotonic()
    outcomes.record_delivered("Track Event", 4)
    outcomes.record_delivered("Track Event", 1)
    assert outcomes.delivered == {"Track Event": 5}
    assert started <= outcomes.last_progress <= time.monotonic()  # a delivery is progress
    started = time.monotonic()
    outcomes.record_dead_letter("Track Event", "HTTP 400: 400 Bad Request", 2)
    outcomes.record_dead_letter("Track Event", "HTTP 400: 400 Bad Request", 1)
    assert outcomes.dead_lettered == {("Track Event", "HTTP 400: 400 Bad Request"): 3}
    assert outcomes.last_progress >= started  # a dead letter is progress: the destination answered
    outcomes.record_refused(None)
    assert outcomes.refused_status == 401
    outcomes.record_refused(403)
    assert outcomes.refused_status == 403


def test_an_error_is_described_by_its_message_or_else_its_type() -> None:
    assert describe(RuntimeError("the send function failed")) == "the send function failed"
    assert describe(RuntimeError()) == "RuntimeError"
    assert describe(ValueError("bad\0value")) == "bad\\u0000value"


def test_429_503_and_network_errors_signal_overload_other_retryable_answers_do_not() -> None:
    def overloaded(status: int | None) -> bool:
        outcome = classify(RetryableError("failed", status=status))
        assert isinstance(outcome, Retry) and outcome.kind == "retryable"
        return outcome.overloaded

    assert [overloaded(s) for s in (429, 503, None, 500, 502, 408)] == [True, True, True, False, False, False]


@pytest.mark.parametrize(
    ("outcome", "signal"),
    [
        (Delivered(0.1), (True, False)),
        (classify(RetryableError("HTTP 503", status=503)), (True, True)),
        (classify(RetryableError("HTTP 500", status=500)), (True, False)),
        (classify(RuntimeError("a bug")), (False, False)),
        (classify(FinalHTTPError("HTTP 400", status=400)), (False, False)),
        (Credentials(401), (False, False)),
        (Skipped(), (False, False)),
    ],
)
def test_only_a_success_or_the_destinations_retry_says_something_about_load(
    outcome: Outcome, signal: tuple[bool, bool]
) -> None:
    """`load_signal`: (measured, overloaded) for the adaptive concurrency, per outcome."""
    assert load_signal(outcome) == signal
