"""The outcome of sending one request, and how a failure is classified (Vector's retry logic).

`classify(error)` reads the `engine.errors` delivery taxonomy into one value that says what to do next;
the sender returns an `Outcome` and the recorder acts on it, so neither needs to know the other.

- 2xx: `Delivered`.
- `InvalidCredentialsError` (401/403): `Credentials`: release (no attempt counted), pause all delivery.
- `RetryableError` (408, 423, 429, 5xx but 501, network errors, timeouts): `Retry`, never sooner than
  `Retry-After` (which also pauses every sender); 429, 503 and network errors mean the destination is
  overloaded, which the adaptive concurrency learns from.
- `FinalHTTPError`: `Rejected`: dead-letter (a batch answered 400 is split to isolate bad events).
- Anything else (a bug, an unexpected library error): `Retry` too: events are never lost to a bug.
- `Skipped`: nothing was sent (delivery paused, or the wait ate half the lease): give the work back.
"""

from __future__ import annotations

from dataclasses import dataclass

from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError

OVERLOAD_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class Delivered:
    """The destination accepted the request after `latency` seconds, answering `status` and `body`."""

    latency: float
    status: int = 200
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing was sent: the work goes back untouched."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """The destination refused the credentials (401/403)."""

    status: int | None


@dataclass(frozen=True, slots=True)
class Retry:
    """Worth another attempt later. `kind` is "retryable" (the destination said so) or "unexpected"."""

    error: Exception
    kind: str
    retry_after: float | None = None
    overloaded: bool = False

    @property
    def status(self) -> int | None:
        """The HTTP status of a retryable answer, None for a network error or a bug."""
        return self.error.status if isinstance(self.error, RetryableError) else None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A final answer: the request will never be accepted as it is."""

    error: FinalHTTPError


Outcome = Delivered | Skipped | Credentials | Retry | Rejected


def classify(error: Exception) -> Outcome:
    """The outcome of a send that raised `error`."""
    if isinstance(error, InvalidCredentialsError):
        return Credentials(error.status)
    if isinstance(error, RetryableError):
        overloaded = error.status is None or error.status in OVERLOAD_STATUSES
        return Retry(error, "retryable", error.retry_after, overloaded)
    if isinstance(error, FinalHTTPError):
        return Rejected(error)
    return Retry(error, "unexpected")


def load_signal(outcome: Outcome) -> tuple[bool, bool]:
    """What the round trip says about the destination's load, for the adaptive concurrency:
    (measured, overloaded). Only a success or the destination's own "retry" says anything."""
    if isinstance(outcome, Delivered):
        return True, False
    if isinstance(outcome, Retry) and outcome.kind == "retryable":
        return True, outcome.overloaded
    return False, False


def describe(error: Exception) -> str:
    """The error as a short line: status and message (delivery errors never carry the token).

    A NUL is written as the escape `\\u0000`: the destination's reason phrase may hold one (HTTP clients
    pass it on) and PostgreSQL's text columns refuse NUL, which would fail the dead-letter or retry write.
    Request and response bodies are recorded as JSON, where a NUL is already that escape."""
    status = getattr(error, "status", None)
    text = (str(error) or type(error).__name__).replace("\0", "\\u0000")
    return f"HTTP {status}: {text}" if status is not None else text
