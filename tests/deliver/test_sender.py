"""`Sender.send` on its own, on a fake clock: when it gives work back unsent, the outcome it returns, what
the adaptive concurrency learns from the round trip, and the log line of an unexpected failure."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import aiohttp
import pytest

from gleap_actions.deliver import sender as sender_module
from gleap_actions.deliver.budget import Budget
from gleap_actions.deliver.concurrency import AdaptiveConcurrency
from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcome import Delivered, Outcome, Rejected, Retry, Skipped
from gleap_actions.deliver.ratelimit import RateLimiter
from gleap_actions.deliver.sender import Destination, Sender
from gleap_actions.destinations.gleap.client import Response
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Request
from gleap_actions.engine.errors import FinalHTTPError, RetryableError

LEASE = 100.0
ROUND_TRIP = 0.25
REQUEST = Request("POST", "http://127.0.0.1:9/admin/track", {}, b"{}")


class Rig:
    """A sender whose destination answers with `answer` (a response, or an error to raise) after
    `ROUND_TRIP` seconds of the fake clock `now`."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.now = 1000.0
        self.answer: Response | Exception = Response(200, {}, b'{"ok":true}')
        self.sent = 0
        metrics = PipelineMetrics()
        self.concurrency = AdaptiveConcurrency(4, clock=self.clock)
        self.gate = CredentialsGate(metrics)
        limiter = RateLimiter(0)
        self.sender = Sender(
            Destination(GleapSettings("token", "http://127.0.0.1:9"), session, self.send),
            budget=Budget({"identify": limiter, "track": limiter}),
            concurrency=self.concurrency,
            gate=self.gate,
            metrics=metrics,
            lease=LEASE,
        )

    def clock(self) -> float:
        return self.now

    async def send(self, session: aiohttp.ClientSession, request: Request, timeout: float) -> Response:
        self.sent += 1
        self.now += ROUND_TRIP
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def outcome(self, waited: float) -> Outcome:
        """Send one request of 3 events claimed `waited` seconds ago."""
        return await self.sender.send(REQUEST, claimed_at=self.now - waited, mapping="m1", events=3)


@pytest.fixture
async def rig(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    async with aiohttp.ClientSession() as session:
        r = Rig(session)
        monkeypatch.setattr(sender_module, "time", SimpleNamespace(monotonic=r.clock))
        yield r
        r.gate.close()


@pytest.mark.parametrize(
    ("waited", "paused", "sent"),
    [
        (0.0, False, True),
        (LEASE / 2, False, True),  # exactly half the lease: still in time
        (LEASE / 2 + 0.5, False, False),
        (LEASE, False, False),
        (0.0, True, False),
    ],
)
async def test_work_is_given_back_unsent_when_paused_or_half_the_lease_is_gone(
    rig: Rig, waited: float, paused: bool, sent: bool
) -> None:
    if paused:
        rig.gate.pause(401)
    outcome = await rig.outcome(waited)
    assert (rig.sent, outcome == Skipped()) == (int(sent), not sent)
    assert rig.concurrency.in_flight == 0


AnswerCheck = Callable[[Outcome], bool]


@pytest.mark.parametrize(
    ("answer", "check", "baseline"),
    [
        (Response(200, {}, b"ok"), lambda o: o == Delivered(ROUND_TRIP, 200, b"ok"), ROUND_TRIP),
        (RetryableError("HTTP 500", status=500), lambda o: isinstance(o, Retry), ROUND_TRIP),
        (FinalHTTPError("HTTP 400", status=400), lambda o: isinstance(o, Rejected), None),
        (RuntimeError("a bug"), lambda o: isinstance(o, Retry) and o.kind == "unexpected", None),
    ],
)
async def test_the_concurrency_learns_the_latency_only_of_answers_about_load(
    rig: Rig, answer: Response | Exception, check: AnswerCheck, baseline: float | None
) -> None:
    """A success's latency is the round trip; only it and a retryable answer are latency samples."""
    rig.answer = answer
    assert check(await rig.outcome(0.0))
    assert (rig.concurrency.baseline, rig.concurrency.in_flight) == (baseline, 0)


async def test_an_unexpected_failure_is_logged_with_its_exception(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in sending is logged once, naming the mapping, the events and the exception; a retryable or
    final answer is not (the recorder logs those)."""
    bug = RuntimeError("a bug")
    with caplog.at_level(logging.DEBUG, logger="gleap_actions.deliver.sender"):
        for answer in (RetryableError("HTTP 503", status=503), FinalHTTPError("HTTP 400", status=400), bug):
            rig.answer = answer
            await rig.outcome(0.0)
    assert [(r.levelname, r.getMessage(), r.exc_info and r.exc_info[1]) for r in caplog.records] == [
        ("ERROR", "event=send_failed_unexpectedly mapping=m1 events=3", bug)
    ]
