"""Dry run: the requests a config would send to Gleap for a file of Segment events, as JSON lines.

Nothing is sent. Every non-blank input line gets an `event_index` (0-based) and shows up in the output:
in the requests it lands in, as a rejection per mapping, or as a line saying why it went nowhere (invalid
JSON, not a valid Segment event, filtered by its integrations object, matched by no mapping). Output is
ordered by event index. Tokens are shown as `***`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from gleap_actions import events as segment_events
from gleap_actions.config import Config
from gleap_actions.engine.action import PlannedRequest, Rejection
from gleap_actions.engine.subscription import Subscription


@dataclass
class _Output:
    """Output lines keyed for ordering: (first event index, mapping position; -1 before any mapping)."""

    lines: list[tuple[tuple[int, int], bytes]] = field(default_factory=list)
    fixed: dict[tuple[Any, ...], bytes] = field(default_factory=dict)  # a request line's constant middle

    def add(self, key: tuple[int, int], record: dict[str, Any], body: bytes | None = None) -> None:
        line = orjson.dumps(record)
        if body is not None:
            # The body exactly as it would be sent (JSON), not re-serialised.
            line = line[:-1] + b',"body":' + body + b"}"
        self.lines.append((key, line))


def preview(lines: Iterable[bytes | str], config: Config, *, batch: bool = False) -> Iterator[bytes]:
    """One JSON document (bytes, no newline) per request, rejection or event that went nowhere.

    With `batch`, mappings whose batching is on group their events into batch requests, and every request
    line lists its `event_indices`; without it, each event is its own request (`event_index`).
    """
    return _run(_parsed_lines(lines), config, batch)


def preview_values(values: Iterable[object], config: Config, *, batch: bool = False) -> Iterator[bytes]:
    """`preview` of events already parsed from JSON (the admin API's body); lines are counted from 1."""
    return _run(((n, value, None) for n, value in enumerate(values, start=1)), config, batch)


def preview_body(body: bytes, config: Config, *, batch: bool = False) -> Iterator[bytes]:
    """`preview` of a request body (the admin API's): one JSON event, a JSON list of them, or JSON lines
    as `gleap-actions preview` reads them (then each line is reported, an invalid one with its number)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return preview(body.splitlines(), config, batch=batch)
    return preview_values(document if isinstance(document, list) else [document], config, batch=batch)


def _parsed_lines(lines: Iterable[bytes | str]) -> Iterator[tuple[int, object, str | None]]:
    return (_parse_line(number, text) for number, text in _non_blank(lines))


def _run(parsed: Iterable[tuple[int, object, str | None]], config: Config, batch: bool) -> Iterator[bytes]:
    # Every event and output line is kept until the end: millions of acyclic objects that the cyclic
    # garbage collector would scan again and again (about 40% of the time). Reference counting frees them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _preview(parsed, config, batch)
    finally:
        if enabled:
            gc.enable()


def _preview(
    parsed: Iterable[tuple[int, object, str | None]], config: Config, batch: bool
) -> Iterator[bytes]:
    """The preview of (line number, raw event, parse error or None) items."""
    output = _Output()
    accepted: list[dict[str, Any]] = []
    positions: list[int] = []  # the event_index of each accepted event
    received_at = time.time()
    for index, (line_number, raw, error) in enumerate(parsed):
        event = _read_event(index, line_number, raw, error, received_at, output)
        if event is None:
            continue
        if not segment_events.delivery_enabled(event):
            reason = "the event's integrations object disables this destination"
            output.add((index, -1), {"event_index": index, "filtered": True, "reason": reason})
            continue
        accepted.append(event)
        positions.append(index)

    matched_any = [False] * len(accepted)
    for order, subscription in enumerate(s for s in config.subscriptions if s.enabled):
        matched = [k for k, event in enumerate(accepted) if subscription.matches(event)]
        for k in matched:
            matched_any[k] = True
        # As delivery does: batched only where the mapping's batching is on.
        plan = subscription.plan(
            [accepted[k] for k in matched], config.gleap, batch and subscription.batching
        )
        indices = [positions[k] for k in matched]
        for planned in plan.requests:
            _add_request(output, order, subscription, planned, indices, batch)
        for rejection in plan.rejections:
            _add_rejection(output, order, subscription, rejection, indices)
    for k, was_matched in enumerate(matched_any):
        if not was_matched:
            reason = "no enabled mapping's trigger matches the event"
            output.add((positions[k], -1), {"event_index": positions[k], "unmatched": True, "reason": reason})

    output.lines.sort(key=lambda item: item[0])
    return (line for _, line in output.lines)


def _non_blank(lines: Iterable[bytes | str]) -> Iterator[tuple[int, bytes | str]]:
    for line_number, text in enumerate(lines, start=1):
        if text.strip():
            yield line_number, text


def _parse_line(line_number: int, text: bytes | str) -> tuple[int, object, str | None]:
    try:
        return line_number, orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        return line_number, None, f"invalid JSON: {exc}"


def _read_event(
    index: int, line_number: int, raw: object, error: str | None, received_at: float, output: _Output
) -> dict[str, Any] | None:
    """The normalised Segment event, or None after reporting why there is none."""
    if error is None:
        try:
            # Like an item of a /v1/batch call: the event's own `type` says what it is.
            event = segment_events.normalize(raw, None, received_at=received_at, live=False)
            segment_events.encode(event)  # as ingest stores it: too deep for JSON is rejected there
            return event
        except segment_events.EventError as exc:
            error = str(exc)
    record = {"event_index": index, "line": line_number, "error": error, "status": 400}
    output.add((index, -1), record)
    return None


def _add_request(
    output: _Output,
    order: int,
    subscription: Subscription,
    planned: PlannedRequest,
    indices: list[int],
    batch: bool,
) -> None:
    event_indices = [indices[i] for i in planned.indices]
    request = planned.request
    # Everything but the indices and the body is the same for most requests of a mapping: serialised once.
    key = (order, request.method, request.url, tuple(request.headers.items()))
    middle = output.fixed.get(key)
    if middle is None:
        redacted = request.redacted()
        fixed = {
            "mapping": subscription.name,
            "action": subscription.action.name,
            "method": redacted.method,
            "url": redacted.url,
            "headers": redacted.headers,
        }
        middle = output.fixed[key] = b"," + orjson.dumps(fixed)[1:-1] + b',"body":'
    if batch:
        head = b'{"event_indices":' + orjson.dumps(event_indices)
    else:
        head = b'{"event_index":%d' % event_indices[0]
    body = request.body if request.body is not None else b"null"
    output.lines.append(((event_indices[0], order), head + middle + body + b"}"))


def _add_rejection(
    output: _Output, order: int, subscription: Subscription, rejection: Rejection, indices: list[int]
) -> None:
    index = indices[rejection.index]
    record = {
        "event_index": index,
        "mapping": subscription.name,
        "action": subscription.action.name,
        "error": rejection.message,
        "status": rejection.status,
    }
    output.add((index, order), record)
