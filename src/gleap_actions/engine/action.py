"""Actions and what planning them produces: requests to send and per-event rejections.

An `Action` is declarative, like a Segment action definition: fields (compiled once into a validator), a
default trigger, a default mapping, and `perform` / `perform_batch` functions that turn validated payloads
into a `Request`. Nothing here does I/O; `destinations.gleap.client.send` sends requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gleap_actions.engine.fields import Field, PayloadValidator, compile_fields

REDACTED = "***"

Payload = dict[str, Any]
Perform = Callable[[Any, Payload], "Request"]
"""(settings, validated payload) -> request."""
PerformBatch = Callable[[Any, list[Payload]], "Request"]
"""(settings, validated payloads in event order) -> one request carrying all of them."""


# Requests and planned requests are made per event and never changed after: not `frozen`, whose generated
# `__init__` sets each field through `object.__setattr__` (four times the cost of making one on 3.11).
@dataclass(slots=True)
class Request:
    """An HTTP request to the destination. `secret_headers` (lower-case names) are never shown.

    Not to be changed once made (`redacted` makes a new one)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    secret_headers: frozenset[str] = frozenset()

    def redacted(self) -> Request:
        """The same request with every secret header value replaced by `***`."""
        headers = {
            name: REDACTED if name.lower() in self.secret_headers else value
            for name, value in self.headers.items()
        }
        return Request(self.method, self.url, headers, self.body, self.secret_headers)

    def to_json(self) -> str:
        """The redacted request as one JSON object `{method, url, headers, body}` (previews, dead letters).

        A JSON body is embedded as JSON, any other body as text.
        """
        body: Any = None
        if self.body is not None:
            try:
                body = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                body = self.body.decode("utf-8", "replace")
        return orjson.dumps(
            {"method": self.method, "url": self.url, "headers": self.redacted().headers, "body": body}
        ).decode()

    def __repr__(self) -> str:
        shown = self.redacted()
        size = 0 if self.body is None else len(self.body)
        return f"Request({shown.method} {shown.url}, headers={shown.headers!r}, body={size} bytes)"


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event the action refused; final (never retried). `index` is its position in the planned list."""

    index: int
    status: int
    code: str
    message: str


@dataclass(slots=True)
class PlannedRequest:
    """A request and the positions of the events it carries (not to be changed once made, as `Request`)."""

    request: Request
    indices: list[int]


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of planning a list of events: every event is in one request's indices or rejected."""

    requests: list[PlannedRequest]
    rejections: list[Rejection]


@dataclass(frozen=True)
class Action:
    """A destination action: fields, default trigger and mapping, and how payloads become requests.

    `perform_batch` is None when the destination has no batch endpoint (each event is its own request).
    `perform_merged`, when given, turns payloads of one record (equal `merge_key` field, in event order)
    into one request whose effect equals performing them one by one, in order (identify coalescing).
    `default_mapping` is usually `fields.default_mapping(fields)`. `validate` is the compiled field validator.
    """

    name: str
    title: str
    fields: Mapping[str, Field]
    default_trigger: str
    perform: Perform
    perform_batch: PerformBatch | None
    default_mapping: Mapping[str, Any]
    description: str = ""
    perform_merged: PerformBatch | None = None
    merge_key: str = "userId"
    validate: PayloadValidator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "validate", compile_fields(self.fields))
