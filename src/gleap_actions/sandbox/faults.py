"""Fault specifications for the sandbox: a typed, validated description of how it misbehaves.

A `Faults` value is immutable and can be built in Python or parsed from JSON (the `POST /__sandbox/faults`
body, the CLI options). `FaultSpecError` lists every problem so a bad spec gets one clear 400.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from gleap_actions.engine.errors import ActionsError

ERROR_STATUSES = (500, 502, 503)
OutageMode = Literal["503", "refuse"]
OUTAGE_MODES: tuple[OutageMode, ...] = ("503", "refuse")

# Gleap documents 1000 requests per 60 s for identify and for track.
GLEAP_RATE_LIMIT = 1000
GLEAP_RATE_WINDOW = 60.0
ENDPOINTS = ("track", "identify", "auth", "delete")  # the Gleap API endpoints, each limited apart


class FaultSpecError(ActionsError, ValueError):
    """A fault specification is invalid. `errors` lists every problem as `field: message`."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class Outage:
    """An outage window: `duration` seconds starting `start_in` seconds after the faults are set.

    `mode="503"` answers every Gleap API request with 503; `mode="refuse"` closes the listening socket
    (connection refused) and drops requests on already open connections, then listens again.
    """

    duration: float
    mode: OutageMode = "503"
    start_in: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON form accepted by `Faults.from_json`."""
        return {"duration": self.duration, "mode": self.mode, "start_in": self.start_in}


@dataclass(frozen=True)
class Faults:
    """How the sandbox misbehaves. The default is a well-behaved Gleap with its documented rate limit.

    - `rate_limit`: requests allowed per `rate_limit_window` seconds, per endpoint (None: unlimited);
      excess requests get 429 with `Retry-After` in whole seconds. `endpoint_rate_limits` sets an
      endpoint's own limit (e.g. `{"identify": 60, "track": null}`); the others keep `rate_limit`.
    - `error_rate`: fraction of requests answered with `error_status` (500, 502 or 503).
    - `latency`: seconds added before every answer.
    - `timeout_rate`: fraction of requests held without ever answering (until the client gives up).
    - `outage`: an outage window (see `Outage`).
    - `max_batch`: most events accepted in one `/admin/track` request; `max_body_bytes`: largest body;
      both answered with 413 beyond the limit.
    - `user_errors`: user id -> HTTP status (400-599): every identify of that user, and every track
      request with an event of that user, is answered with that status (a user Gleap keeps refusing).
    - `seed`: seeds the random choice of failing requests, for reproducible runs.
    """

    rate_limit: int | None = GLEAP_RATE_LIMIT
    rate_limit_window: float = GLEAP_RATE_WINDOW
    endpoint_rate_limits: Mapping[str, int | None] = field(default_factory=dict)
    error_rate: float = 0.0
    error_status: int = 500
    latency: float = 0.0
    timeout_rate: float = 0.0
    outage: Outage | None = None
    max_batch: int | None = None
    max_body_bytes: int | None = None
    user_errors: Mapping[str, int] = field(default_factory=dict)
    seed: int | None = None

    def rate_limit_of(self, endpoint: str) -> int | None:
        """The requests `endpoint` allows per window (None: unlimited)."""
        return self.endpoint_rate_limits.get(endpoint, self.rate_limit)

    def to_json(self) -> dict[str, Any]:
        """The JSON form accepted by `from_json`."""
        out = dataclasses.asdict(self)
        out["endpoint_rate_limits"] = dict(self.endpoint_rate_limits)
        out["outage"] = self.outage.to_json() if self.outage else None
        return out

    @classmethod
    def from_json(cls, spec: object, base: Faults | None = None) -> Faults:
        """Parse and validate a JSON fault spec. Keys not given keep their value from `base` (default:
        `Faults()`). Raises `FaultSpecError` listing every problem."""
        if not isinstance(spec, Mapping):
            raise FaultSpecError([f"faults must be a JSON object, got {_json_type(spec)}"])
        current = base if base is not None else cls()
        errors: list[str] = []
        known = {f.name for f in dataclasses.fields(cls)}
        errors.extend(
            f"{key}: unknown fault (known: {', '.join(sorted(known))})" for key in spec if key not in known
        )
        values: dict[str, Any] = {}
        for key, raw in spec.items():
            if key in _PARSERS:
                try:
                    values[key] = _PARSERS[key](raw)
                except ValueError as exc:
                    errors.append(f"{key}: {exc}")
        if errors:
            raise FaultSpecError(errors)
        return dataclasses.replace(current, **values)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number(value: object, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {_json_type(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
        raise ValueError(f"must be {bound}, got {value}")
    return float(value)


def _positive_float(value: object) -> float:
    result = _number(value)
    if result == 0:
        raise ValueError("must be > 0")
    return result


def _optional_positive_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a positive integer or null, got {_json_type(value)}")
    if value < 1:
        raise ValueError(f"must be a positive integer or null, got {value}")
    return value


def _endpoint_rate_limits(value: object) -> dict[str, int | None]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an object of endpoint names to limits, got {_json_type(value)}")
    limits: dict[str, int | None] = {}
    problems: list[str] = []
    for endpoint, limit in value.items():
        if endpoint not in ENDPOINTS:
            problems.append(f"unknown endpoint {endpoint!r} (known: {', '.join(ENDPOINTS)})")
            continue
        try:
            limits[endpoint] = _optional_positive_int(limit)
        except ValueError as exc:
            problems.append(f"{endpoint} {exc}")
    if problems:
        raise ValueError(", ".join(problems))
    return limits


def _rate(value: object) -> float:
    return _number(value, maximum=1.0)


def _error_status(value: object) -> int:
    if isinstance(value, bool) or value not in ERROR_STATUSES:
        raise ValueError(f"must be one of {', '.join(map(str, ERROR_STATUSES))}, got {value!r}")
    assert isinstance(value, int)
    return value


def _seed(value: object) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"must be an integer or null, got {_json_type(value)}")


def _user_errors(value: object) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an object of user id -> HTTP status, got {_json_type(value)}")
    for user, status in value.items():
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"{user!r} must map to an HTTP status between 400 and 599, got {status!r}")
    return dict(value)


def _outage(value: object) -> Outage | None:
    if value is None or isinstance(value, Outage):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an object {{duration, mode, start_in}} or null, got {_json_type(value)}")
    problems = [f"unknown key {key!r}" for key in value if key not in ("duration", "mode", "start_in")]
    if "duration" not in value:
        problems.append("duration is required")
    mode = value.get("mode", "503")
    if mode not in OUTAGE_MODES:
        problems.append(f"mode must be one of {', '.join(OUTAGE_MODES)}, got {mode!r}")
    duration = start_in = 0.0
    try:
        duration = _positive_float(value.get("duration", 1))
    except ValueError as exc:
        problems.append(f"duration {exc}")
    try:
        start_in = _number(value.get("start_in", 0))
    except ValueError as exc:
        problems.append(f"start_in {exc}")
    if problems:
        raise ValueError(", ".join(problems))
    return Outage(duration=duration, mode=cast(OutageMode, mode), start_in=start_in)


_PARSERS: dict[str, Callable[[object], Any]] = {
    "rate_limit": _optional_positive_int,
    "rate_limit_window": _positive_float,
    "endpoint_rate_limits": _endpoint_rate_limits,
    "error_rate": _rate,
    "error_status": _error_status,
    "latency": _number,
    "timeout_rate": _rate,
    "outage": _outage,
    "max_batch": _optional_positive_int,
    "max_body_bytes": _optional_positive_int,
    "user_errors": _user_errors,
    "seed": _seed,
}
