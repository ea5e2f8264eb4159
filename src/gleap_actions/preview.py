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
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from gleap_actions import events as segment_events
from gleap_actions.config import Config
from gleap_actions.engine.action import Payload, Rejection, Request
from gleap_actions.engine.fql.trigger import Trigger
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
    return _run(parsed_lines(lines), config, batch, owned=True)


def preview_values(values: Iterable[object], config: Config, *, batch: bool = False) -> Iterator[bytes]:
    """`preview` of events already parsed from JSON (the admin API's body); lines are counted from 1."""
    return _run(
        ((n, value, None, False, False) for n, value in enumerate(values, start=1)),
        config,
        batch,
        owned=False,
    )


def preview_body(body: bytes, config: Config, *, batch: bool = False) -> Iterator[bytes]:
    """`preview` of a request body (the admin API's): one JSON event, a JSON list of them, or JSON lines
    as `gleap-actions preview` reads them (then each line is reported, an invalid one with its number)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return preview(body.splitlines(), config, batch=batch)
    return preview_values(document if isinstance(document, list) else [document], config, batch=batch)


# (line number, raw event, parse error or None, whether the event is known to be shallow enough to store,
# whether it is known to hold no NUL character: `events.within_depth` and `events.free_of_nul`)
_Parsed = tuple[int, object, str | None, bool, bool]


def parsed_lines(lines: Iterable[bytes | str], first_line: int = 1) -> Iterator[_Parsed]:
    """Each non-blank line parsed (one loop: this runs for every line of a backfill); `first_line` is the
    number of the first of `lines` in its file."""
    loads, within_depth, free_of_nul = orjson.loads, segment_events.within_depth, segment_events.free_of_nul
    for line_number, text in enumerate(lines, start=first_line):
        if is_blank(text):
            continue
        try:
            yield line_number, loads(text), None, within_depth(text), free_of_nul(text)
        except orjson.JSONDecodeError as exc:
            yield line_number, None, f"invalid JSON: {exc}", False, False


def is_blank(line: bytes | str) -> bool:
    """Whether `preview` skips `line` (no event_index): empty or white space only."""
    return not line or line.isspace()  # `not line.strip()` without copying the line


def _run(parsed: Iterable[_Parsed], config: Config, batch: bool, *, owned: bool) -> Iterator[bytes]:
    """The preview of parsed items; `owned`: the raw events were parsed here, so normalising may complete
    them in place."""
    with collection_paused():
        assembly = Assembly(config, batch)
        assembly.add(preview_part(parsed, config, batch, owned=owned, received_at=time.time()))
        return assembly.lines()


@contextmanager
def collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block.

    Every event and output line is kept until the end: millions of acyclic objects that the cyclic
    garbage collector would scan again and again (about 40% of the time). Reference counting frees them.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Part:
    """The preview of consecutive events of a file, before batching: its output lines with their sort keys
    (all final), and, per batching mapping (by position among the enabled ones), the valid payloads and
    their event indices, in order. Batch requests group payloads across the whole file: `Assembly`."""

    lines: list[tuple[tuple[int, int], bytes]]
    batched: dict[int, tuple[list[Payload], list[int]]]


def preview_part(
    parsed: Iterable[_Parsed],
    config: Config,
    batch: bool,
    *,
    owned: bool,
    received_at: float,
    first_index: int = 0,
) -> Part:
    """The `Part` of parsed items (`_Parsed`) whose first has the event_index `first_index`; events
    without any date get `received_at`. Events are previewed independently of each other, so the parts
    of consecutive items, put together by an `Assembly`, are the preview of all of them."""
    output = _Output()
    accepted: list[dict[str, Any]] = []
    kinds: list[str] = []  # the call type of each accepted event (a string: `normalize` checked it)
    positions: list[int] = []  # the event_index of each accepted event
    normalize, encode, enabled = (
        segment_events.normalize_recorded,
        segment_events.encode,
        segment_events.delivery_enabled,
    )
    for index, (line_number, raw, error, shallow, nul_free) in enumerate(parsed, start=first_index):
        # The event as ingest would store it, or the reason there is none (one loop: this runs per line).
        if error is None:
            try:
                # Like an item of a /v1/batch call: the event's own `type` says what it is.
                event = normalize(raw, received_at, nul_free, owned)
                if not shallow:  # encoding the event costs as much as parsing it: only when it may fail
                    encode(event)  # as ingest stores it: too deep for JSON is rejected there
            except segment_events.EventError as exc:
                error = str(exc)
        if error is not None:
            output.add(
                (index, -1), {"event_index": index, "line": line_number, "error": error, "status": 400}
            )
            continue
        # An absent or empty integrations object enables every destination: no call needed.
        if event.get("integrations") and not enabled(event):
            reason = "the event's integrations object disables this destination"
            output.add((index, -1), {"event_index": index, "filtered": True, "reason": reason})
            continue
        accepted.append(event)
        kinds.append(event["type"])
        positions.append(index)

    batched: dict[int, tuple[list[Payload], list[int]]] = {}
    matched_any = [False] * len(accepted)
    for order, subscription in enumerate(_enabled(config)):
        trigger = subscription.trigger  # `matches` without a call around it
        types = trigger.types if isinstance(trigger, Trigger) else None
        if types is not None:  # a trigger on the call type alone: the same events, without calling it
            matched = [k for k, kind in enumerate(kinds) if kind in types]
        else:
            matched = [k for k, event in enumerate(accepted) if trigger(event)]
        for k in matched:
            matched_any[k] = True
        indices = [positions[k] for k in matched]
        # As delivery does: batched only where the mapping's batching is on.
        collect = _batches(subscription, batch)
        requests, rejections, payloads, valid = subscription.validated(
            [accepted[k] for k in matched], config.gleap, collect
        )
        if collect:
            batched[order] = (payloads, [indices[i] for i in valid])
        for planned in requests:
            _add_request(output, order, subscription, planned.request, [indices[planned.indices[0]]], batch)
        for rejection in rejections:
            _add_rejection(output, order, subscription, rejection, indices)
    for k, was_matched in enumerate(matched_any):
        if not was_matched:
            reason = "no enabled mapping's trigger matches the event"
            output.add((positions[k], -1), {"event_index": positions[k], "unmatched": True, "reason": reason})
    return Part(output.lines, batched)


class Assembly:
    """The output lines of the `Part`s of consecutive events, added in order: batch requests are made as
    soon as a batching mapping has `batch_size` payloads waiting (`Subscription.batches` makes them by
    consecutive groups of `batch_size`, each independent of the others), the rest at the end."""

    def __init__(self, config: Config, batch: bool) -> None:
        self._settings, self._batch = config.gleap, batch
        self._subscriptions = _enabled(config)
        self._output = _Output()
        self._waiting: dict[int, tuple[list[Payload], list[int]]] = {}

    def add(self, part: Part) -> None:
        """Take the part of the events that follow those of the parts added before."""
        self._output.lines += part.lines
        for order, (payloads, indices) in part.batched.items():
            waiting, waiting_indices = self._waiting.setdefault(order, ([], []))
            waiting += payloads
            waiting_indices += indices
            full = len(waiting) - len(waiting) % self._subscriptions[order].batch_size
            if full:
                self._add_batches(order, waiting[:full], waiting_indices[:full])
                del waiting[:full], waiting_indices[:full]

    def lines(self) -> Iterator[bytes]:
        """The output lines, in event order, once every part was added."""
        for order, (payloads, indices) in self._waiting.items():
            self._add_batches(order, payloads, indices)
        self._waiting.clear()
        lines = self._output.lines
        lines.sort(key=itemgetter(0))  # by key alone (unique), stable: no Python call per line
        return (line for _, line in lines)

    def _add_batches(self, order: int, payloads: list[Payload], indices: list[int]) -> None:
        subscription = self._subscriptions[order]
        for planned in subscription.batches(self._settings, payloads, indices):
            _add_request(self._output, order, subscription, planned.request, planned.indices, self._batch)


def _enabled(config: Config) -> list[Subscription]:
    """The enabled mappings, in order: a mapping's position here is the second part of its lines' keys."""
    return [s for s in config.subscriptions if s.enabled]


def _batches(subscription: Subscription, batch: bool) -> bool:
    """Whether `subscription`'s valid events go into batch requests (`plan` with `batch`)."""
    return batch and subscription.batching and subscription.action.perform_batch is not None


def _add_request(
    output: _Output,
    order: int,
    subscription: Subscription,
    request: Request,
    event_indices: list[int],
    batch: bool,
) -> None:
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
