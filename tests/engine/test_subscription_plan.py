"""Subscription.plan: single and batch paths, chunking by size and bytes, per-event rejections."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.destinations.gleap.actions import IDENTIFY_CONTACT, TRACK_EVENT
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Plan, Rejection
from gleap_actions.engine.errors import ActionsError, FqlSyntaxError, MappingValidationError
from gleap_actions.engine.mapping import compile_mapping
from gleap_actions.engine.subscription import Subscription, _direct

SETTINGS = GleapSettings(api_token="tok")
# The default mapping, except that events with `explode` fail at run time (@path of a number).
TRACK_MAPPING = {
    **TRACK_EVENT.default_mapping,
    "userId": {
        "@if": {
            "exists": {"@path": "$.explode"},
            "then": {"@path": {"@path": "$.explode"}},
            "else": {"@path": "$.userId"},
        }
    },
}


def _subscription(**options: Any) -> Subscription:
    return Subscription.compile(
        "Track Event",
        options.pop("action", TRACK_EVENT),
        options.pop("trigger", 'type = "track"'),
        options.pop("mapping", TRACK_MAPPING),
        **options,
    )


def _event(i: int, **overrides: Any) -> dict[str, Any]:
    event = {"type": "track", "event": f"E{i}", "userId": f"u{i}", "timestamp": "2024-01-02T03:04:05.000Z"}
    event.update(overrides)
    return event


def _accounted(plan: Plan, count: int) -> None:
    indices = [i for planned in plan.requests for i in planned.indices] + [r.index for r in plan.rejections]
    assert sorted(indices) == list(range(count))


def test_single_path_one_request_per_event_and_rejections_by_index() -> None:
    events = [
        _event(0),
        _event(1, userId=""),
        _event(2),
        _event(3, timestamp="abc 2024"),
        _event(4, explode=5),
    ]
    plan = _subscription().plan(events, SETTINGS, batch=False)
    assert [p.indices for p in plan.requests] == [[0], [2]]
    assert orjson.loads(plan.requests[1].request.body or b"")["events"][0]["name"] == "E2"
    assert [(r.index, r.status, r.code) for r in plan.rejections] == [
        (1, 400, "PAYLOAD_VALIDATION_FAILED"),
        (3, 400, "PAYLOAD_VALIDATION_FAILED"),
        (4, 400, "MAPPING_FAILED"),
    ]
    assert plan.rejections[0].message == "The root value is missing the required field 'userId'."
    assert plan.rejections[2].message == "@path: expected string, got number"


def test_batch_path_same_rules_and_chunked_by_size() -> None:
    events = [_event(i) for i in range(7)]
    events[1]["userId"] = ""  # the single-event rule applies to batches too
    events[4]["event"] = ""  # so does dropping an empty name
    plan = _subscription(batch_size=2).plan(events, SETTINGS, batch=True)
    assert [p.indices for p in plan.requests] == [[0, 2], [3, 4], [5, 6]]
    assert [(r.index, r.message) for r in plan.rejections] == [
        (1, "The root value is missing the required field 'userId'.")
    ]
    second = orjson.loads(plan.requests[1].request.body or b"")["events"]
    assert second[0]["name"] == "E3"
    assert "name" not in second[1]


def test_batch_split_by_bytes_keeps_order_and_limits() -> None:
    events = [_event(i, properties={"blob": "x" * 300}) for i in range(10)]
    plan = _subscription(batch_size=100, batch_bytes=1000).plan(events, SETTINGS, batch=True)
    assert [i for p in plan.requests for i in p.indices] == list(range(10))
    for planned in plan.requests:
        body = planned.request.body or b""
        assert len(body) <= 1000
        assert len(orjson.loads(body)["events"]) == len(planned.indices)


def test_event_larger_than_the_byte_limit_is_sent_alone() -> None:
    events = [_event(0), _event(1, properties={"blob": "x" * 5000}), _event(2)]
    plan = _subscription(batch_bytes=1000).plan(events, SETTINGS, batch=True)
    assert [p.indices for p in plan.requests] == [[0], [1], [2]]
    assert not plan.rejections


def test_all_invalid_batch_makes_no_request() -> None:
    plan = _subscription().plan([_event(0, userId=None), _event(1, timestamp=None)], SETTINGS, batch=True)
    assert plan.requests == []
    assert [r.index for r in plan.rejections] == [0, 1]


def test_action_without_batch_sends_each_event_alone() -> None:
    mapping = {"userId": {"@path": "$.userId"}, "customAttributes": {"@path": "$.traits"}}
    sub = _subscription(action=IDENTIFY_CONTACT, trigger='type = "identify"', mapping=mapping, batching=True)
    events = [{"type": "identify", "userId": "a"}, {"type": "identify", "userId": "b", "traits": {"x": 1}}]
    plan = sub.plan(events, SETTINGS, batch=True)
    assert [p.indices for p in plan.requests] == [[0], [1]]
    assert [p.request.body for p in plan.requests] == [b'{"userId":"a"}', b'{"userId":"b","x":1}']


def test_matches_is_the_trigger() -> None:
    sub = _subscription()
    assert sub.matches({"type": "track"})
    assert not sub.matches({"type": "identify"})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["ok", "bad", "big", "boom"]), max_size=30),
    st.integers(min_value=1, max_value=8),
    st.sampled_from([300, 2000, 1_000_000]),
    st.booleans(),
)
def test_every_event_is_planned_exactly_once(kinds: list[str], size: int, limit: int, batch: bool) -> None:
    events = []
    for i, kind in enumerate(kinds):
        overrides: dict[str, Any] = {
            "ok": {},
            "bad": {"userId": None},
            "big": {"properties": {"b": "y" * 400}},
            "boom": {"explode": 5},
        }[kind]
        events.append(_event(i, **overrides))
    plan = _subscription(batch_size=size, batch_bytes=limit).plan(events, SETTINGS, batch=batch)
    _accounted(plan, len(events))
    for planned in plan.requests:
        assert len(planned.indices) <= (size if batch else 1)
        assert len(planned.indices) == 1 or len(planned.request.body or b"") <= limit
        assert planned.indices == sorted(planned.indices)


def test_compile_defaults_and_errors() -> None:
    sub = Subscription.compile("x", TRACK_EVENT)
    assert sub.trigger_text == TRACK_EVENT.default_trigger
    assert sub.mapping_config == TRACK_EVENT.default_mapping
    assert (sub.enabled, sub.batching, sub.batch_size, sub.batch_bytes) == (True, False, 100, 1_000_000)
    with pytest.raises(ValueError, match="at least 1"):
        Subscription.compile("x", TRACK_EVENT, batch_size=0)
    with pytest.raises(FqlSyntaxError):
        Subscription.compile("x", TRACK_EVENT, trigger='type = "track" and')
    with pytest.raises(MappingValidationError):
        Subscription.compile("x", TRACK_EVENT, mapping={"userId": {"@path": 5}})


class _Refused(ActionsError):
    """An error of the action itself, with the status and code it reports."""

    status = 413
    code = "TOO_BIG"


def _perform_refusing(settings: Any, payload: dict[str, Any]) -> Any:
    if payload["eventName"] == "E1":
        raise _Refused("too big for Gleap")
    if payload["eventName"] == "E2":
        raise ActionsError("no status, no code")
    return TRACK_EVENT.perform(settings, payload)


def test_other_errors_of_an_action_reject_the_event_with_their_status_and_code() -> None:
    action = dataclasses.replace(TRACK_EVENT, perform=_perform_refusing)
    plan = _subscription(action=action).plan(
        [_event(0), _event(1), _event(2), _event(3)], SETTINGS, batch=False
    )
    assert [p.indices for p in plan.requests] == [[0], [3]]
    assert plan.rejections == [
        Rejection(1, 413, "TOO_BIG", "too big for Gleap"),
        Rejection(2, 400, "INVALID_EVENT", "no status, no code"),
    ]


def test_compile_keeps_its_options_and_accepts_limits_of_one() -> None:
    sub = Subscription.compile("Mine", TRACK_EVENT, enabled=False, batching=True, batch_size=1, batch_bytes=1)
    assert (sub.name, sub.enabled, sub.batching, sub.batch_size, sub.batch_bytes) == (
        "Mine",
        False,
        True,
        1,
        1,
    )
    plan = sub.plan([_event(0), _event(1)], SETTINGS, batch=True)
    assert [p.indices for p in plan.requests] == [[0], [1]]


def test_a_batch_of_exactly_the_byte_limit_is_one_request() -> None:
    events = [_event(i) for i in range(4)]
    whole = _subscription().plan(events, SETTINGS, batch=True)
    size = len(whole.requests[0].request.body or b"")
    at_limit = _subscription(batch_bytes=size).plan(events, SETTINGS, batch=True)
    assert [p.indices for p in at_limit.requests] == [[0, 1, 2, 3]]
    over = _subscription(batch_bytes=size - 1).plan(events, SETTINGS, batch=True)
    assert [p.indices for p in over.requests] == [[0, 1], [2, 3]]


def test_plan_calls_compiled_objects_by_their_bound_call() -> None:
    """`_direct` gives a compiled mapping's or validator's bound `__call__` (same results, a cheaper call)
    and leaves plain functions as they are."""
    mapping = compile_mapping({"userId": {"@path": "$.userId"}})
    direct = _direct(mapping)
    assert direct is not mapping and direct({"userId": "u"}) == mapping({"userId": "u"}) == {"userId": "u"}

    def plain(event: dict[str, Any]) -> Any:
        return event

    assert _direct(plain) is plain
    assert _direct(len) is len
