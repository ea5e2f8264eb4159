"""The Segment spec: normalisation, timestamps and the integrations object."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gleap_actions.events import (
    MAX_DEPTH,
    EventError,
    delivery_enabled,
    encode,
    format_time,
    normalize,
    parse_time,
    within_depth,
)

NOW = parse_time("2024-05-01T12:00:00Z", "now")


def test_single_call_gets_type_message_id_and_times() -> None:
    raw = {"userId": "u1", "event": "Signed Up", "type": "identify", "writeKey": "secret"}
    event = normalize(raw, "track", received_at=NOW)
    assert event["type"] == "track"
    assert len(event["messageId"]) == 36
    assert event["receivedAt"] == event["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert "writeKey" not in event and "originalTimestamp" not in event
    assert raw["type"] == "identify"  # the input is not modified
    assert normalize(raw, "track", received_at=NOW)["messageId"] != event["messageId"]


def test_batch_item_type_and_envelope_merge() -> None:
    envelope = {
        "context": {"library": {"name": "x"}, "ip": "1.1.1.1"},
        "integrations": {"All": False},
        "sentAt": "2024-05-01T12:00:00Z",
    }
    item = {"type": "page", "anonymousId": "a", "context": {"ip": "2.2.2.2"}, "messageId": "m1"}
    event = normalize(item, None, received_at=NOW, batch_context=envelope)
    assert event["type"] == "page" and event["messageId"] == "m1"
    assert event["context"] == {"library": {"name": "x"}, "ip": "2.2.2.2"}
    assert event["integrations"] == {"All": False}
    assert event["sentAt"] == "2024-05-01T12:00:00Z"
    own = normalize({**item, "sentAt": "2024-05-01T11:00:00Z"}, None, received_at=NOW, batch_context=envelope)
    assert own["sentAt"] == "2024-05-01T11:00:00Z"


def test_a_recorded_event_with_a_route_type_or_an_envelope_takes_both_into_account() -> None:
    """`live=False` keeps the dates, nothing else: the route's type and the batch envelope still apply
    (the recorded fast path only takes an event with neither)."""
    item = {
        "type": "identify",
        "userId": "u",
        "event": "E",
        "messageId": "m1",
        "timestamp": "2024-05-01T11:00:00Z",
    }
    tracked = normalize(item, "track", received_at=NOW, live=False)
    assert tracked == {**item, "type": "track", "receivedAt": "2024-05-01T12:00:00.000Z"}
    envelope = {
        "context": {"ip": "1.1.1.1"},
        "integrations": {"All": False},
        "sentAt": "2024-05-01T11:00:01Z",
    }
    batched = normalize(item, None, received_at=NOW, batch_context=envelope, live=False)
    assert batched == {**item, **envelope, "receivedAt": "2024-05-01T12:00:00.000Z"}
    assert normalize(item, None, received_at=NOW, batch_context={}, live=False) == {
        **item,
        "receivedAt": "2024-05-01T12:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("fields", "expected_timestamp", "expected_original"),
    [
        # Client clock 1 h ahead: the call was 5 s before sending -> 5 s before receipt.
        (
            {"timestamp": "2024-05-01T12:59:55Z", "sentAt": "2024-05-01T13:00:00Z"},
            "2024-05-01T11:59:55.000Z",
            "2024-05-01T12:59:55Z",
        ),
        # originalTimestamp (a Segment export replayed) is the client time when both are present.
        (
            {
                "timestamp": "2024-05-01T11:00:00Z",
                "originalTimestamp": "2024-05-01T12:00:00+02:00",
                "sentAt": "2024-05-01T12:00:10+02:00",
            },
            "2024-05-01T11:59:50.000Z",
            "2024-05-01T12:00:00+02:00",
        ),
        # No sentAt: the client time is trusted as is (historical import).
        (
            {"timestamp": "2020-01-01T00:00:00.123456"},
            "2020-01-01T00:00:00.123Z",
            "2020-01-01T00:00:00.123456",
        ),
        # No client time: receipt time.
        ({"sentAt": "2024-05-01T13:00:00Z"}, "2024-05-01T12:00:00.000Z", None),
    ],
)
def test_clock_skew_correction(
    fields: dict[str, Any], expected_timestamp: str, expected_original: str
) -> None:
    event = normalize({"userId": "u", "event": "e", **fields}, "track", received_at=NOW)
    assert event["timestamp"] == expected_timestamp
    assert event.get("originalTimestamp") == expected_original


@pytest.mark.parametrize(
    ("raw", "call_type", "code", "message"),
    [
        ("not an object", "track", "invalid_event", "JSON object"),
        ({"event": "e"}, "track", "missing_identity", "userId or an anonymousId"),
        ({"userId": "", "anonymousId": None, "event": "e"}, "track", "missing_identity", "userId"),
        ({"userId": "u"}, "track", "missing_event", "event name"),
        ({"userId": "u", "event": ""}, "track", "missing_event", "event name"),
        ({"userId": "u"}, "group", "missing_group_id", "groupId"),
        ({"userId": "u", "groupId": ""}, "group", "missing_group_id", "groupId"),
        ({"userId": "u"}, "alias", "missing_previous_id", "previousId"),
        ({"anonymousId": "a", "previousId": "p"}, "alias", "missing_identity", "alias calls need a userId"),
        ({"userId": "u"}, None, "invalid_type", "type must be one of"),
        ({"userId": "u", "type": "batch"}, None, "invalid_type", "got 'batch'"),
        ({"userId": ["u"], "event": "e"}, "track", "invalid_field", "userId must be a string"),
        ({"userId": "u", "properties": "x", "event": "e"}, "track", "invalid_field", "properties must be"),
        ({"userId": "u", "context": [], "event": "e"}, "track", "invalid_field", "context must be"),
        ({"userId": "u", "name": 3}, "page", "invalid_field", "name must be a string"),
        ({"userId": "u", "messageId": 5}, "identify", "invalid_field", "messageId must be a string"),
        ({"userId": "u", "messageId": "x" * 101}, "identify", "invalid_field", "at most 100"),
        ({"userId": "u", "timestamp": "2024-02-30"}, "identify", "invalid_timestamp", "timestamp is not"),
        ({"userId": "u", "timestamp": 1714564800}, "identify", "invalid_timestamp", "ISO 8601 date string"),
        ({"userId": "u", "sentAt": "soon"}, "identify", "invalid_timestamp", "sentAt"),
    ],
)
def test_validation(raw: object, call_type: str | None, code: str, message: str) -> None:
    with pytest.raises(EventError) as caught:
        normalize(raw, call_type, received_at=NOW)
    assert caught.value.code == code
    assert message in caught.value.message


def test_numeric_ids_become_strings() -> None:
    event = normalize({"userId": 42, "groupId": 7}, "group", received_at=NOW)
    assert (event["userId"], event["groupId"]) == ("42", "7")


def test_anonymous_calls_and_null_user() -> None:
    event = normalize({"anonymousId": "a", "userId": None}, "identify", received_at=NOW)
    assert event["anonymousId"] == "a"


@pytest.mark.parametrize(
    ("integrations", "enabled"),
    [
        (None, True),
        ({}, True),
        ({"All": True}, True),
        ({"Gleap (Action)": False}, False),
        ({"All": False}, False),
        ({"All": False, "Gleap (Action)": True}, True),
        ({"All": False, "Gleap (Action)": {"setting": 1}}, True),
        ({"All": True, "Gleap (Action)": False}, False),
        ({"All": False, "gleap (action)": True}, False),  # keys are case sensitive
        ({"Salesforce": False}, True),
        ("nonsense", True),
    ],
)
def test_delivery_enabled(integrations: object, enabled: bool) -> None:
    assert delivery_enabled({"integrations": integrations}) is enabled


def test_delivery_enabled_other_destination() -> None:
    assert delivery_enabled({"integrations": {"All": False, "Other": True}}, "Other") is True


def test_format_time() -> None:
    assert format_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert format_time(parse_time("2024-01-02T03:04:05.678+01:00", "t")) == "2024-01-02T02:04:05.678Z"


@pytest.mark.parametrize(
    ("raw", "call_type", "code", "message"),
    [
        (1, None, "invalid_event", "an event must be a JSON object"),
        (
            {"event": "x"},
            None,
            "invalid_type",
            "type must be one of track, identify, page, screen, group, alias",
        ),
        (
            {"userId": "u", "type": "x" * 40},
            None,
            "invalid_type",
            f"type must be one of track, identify, page, screen, group, alias (got {'x' * 32!r})",
        ),
        ({"userId": "u"}, "track", "missing_event", "track calls need an event name (a non-empty string)"),
        ({"userId": "u"}, "group", "missing_group_id", "group calls need a groupId"),
        ({"userId": "u"}, "alias", "missing_previous_id", "alias calls need a previousId"),
        ({"previousId": "p", "anonymousId": "a"}, "alias", "missing_identity", "alias calls need a userId"),
        ({"userId": "u", "name": 1}, "page", "invalid_field", "name must be a string"),
        ({"userId": "u", "name": 1}, "screen", "invalid_field", "name must be a string"),
        ({"userId": "u", "messageId": 1}, "identify", "invalid_field", "messageId must be a string"),
        (
            {"userId": "u", "messageId": "m" * 101},
            "identify",
            "invalid_field",
            "messageId must be at most 100 characters",
        ),
        (
            {"userId": "u", "sentAt": "nope"},
            "identify",
            "invalid_timestamp",
            "sentAt is not an ISO 8601 date: 'nope'",
        ),
        (
            {"userId": "u", "timestamp": "x" * 100},
            "identify",
            "invalid_timestamp",
            f"timestamp is not an ISO 8601 date: {'x' * 64!r}",
        ),
    ],
)
def test_each_refusal_has_its_code_and_message(
    raw: Any, call_type: str | None, code: str, message: str
) -> None:
    with pytest.raises(EventError) as caught:
        normalize(raw, call_type, received_at=1700000000.0)
    assert (caught.value.code, caught.value.message, str(caught.value)) == (code, message, message)


def test_message_ids_up_to_100_characters_and_empty_ones_replaced() -> None:
    assert (
        normalize({"userId": "u", "messageId": "m" * 100}, "identify", received_at=1.0)["messageId"]
        == "m" * 100
    )
    generated = normalize({"userId": "u", "messageId": ""}, "identify", received_at=1.0)["messageId"]
    assert generated and generated != ""


def test_an_event_that_cannot_be_written_as_json_is_refused_with_the_reason() -> None:
    with pytest.raises(EventError) as caught:
        encode({"type": "track", "event": "\ud800"})  # a lone surrogate: not UTF-8
    assert caught.value.code == "invalid_event"
    assert caught.value.message.startswith("the event cannot be written as JSON: ")


def test_within_depth_counts_every_bracket_so_it_never_says_yes_wrongly() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert within_depth(deepest) and within_depth(deepest.encode())
    assert not within_depth("[" + deepest + "]") and not within_depth(("[" + deepest + "]").encode())
    # brackets in strings count too (a line long enough to be looked at)
    in_string = '{"a": "' + "[" * MAX_DEPTH + '", "b": "' + " " * 2 * MAX_DEPTH + '"}'
    assert not within_depth(in_string) and not within_depth(in_string.encode())
    encode(orjson.loads(deepest))  # what it says yes to can be written back


def test_within_depth_of_objects_alone_counts_five_characters_a_level() -> None:
    """Without `[`, a line of at most 5 characters a level is shallow enough; a longer one is counted."""
    # The shortest object nested one level too deep: `{"":` and `}` a level, `{}` the innermost.
    too_deep = '{"":' * MAX_DEPTH + "{}" + "}" * MAX_DEPTH
    deepest = '{"":' * (MAX_DEPTH - 1) + "{}" + "}" * (MAX_DEPTH - 1)
    # Long but shallow: two levels and a long string (only its own two `{` to count).
    long_and_shallow = '{"a": {"b": "' + "x" * 6 * MAX_DEPTH + '"}}'
    for text in (too_deep, deepest, long_and_shallow):
        assert "[" not in text and len(text) > 2 * MAX_DEPTH
    assert len(too_deep) == 5 * MAX_DEPTH + 2
    for text, shallow in ((too_deep, False), (deepest, True), (long_and_shallow, True)):
        assert within_depth(text) is within_depth(text.encode()) is shallow
    encode(orjson.loads(deepest))
    with pytest.raises(EventError, match="nested more than 254 levels deep"):
        encode(orjson.loads(too_deep))


def test_a_batch_level_object_that_is_not_an_object_is_ignored() -> None:
    item = {"type": "track", "event": "E", "userId": "u", "context": {"ip": "1.2.3.4"}}
    event = normalize(item, None, received_at=0.0, batch_context={"context": "abc", "integrations": 5})
    assert event["context"] == {"ip": "1.2.3.4"} and "integrations" not in event


def test_a_bad_original_timestamp_is_named_in_the_refusal() -> None:
    raw = {"type": "track", "event": "E", "userId": "u", "originalTimestamp": "nope"}
    with pytest.raises(EventError, match=r"^originalTimestamp is not an ISO 8601 date: 'nope'$"):
        normalize(raw, None, received_at=0.0)


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"])
def test_the_first_and_last_representable_instants_are_accepted(timestamp: str) -> None:
    raw = {"type": "track", "event": "E", "userId": "u", "timestamp": timestamp}
    # to the second: near year 9999 a float of Unix seconds no longer holds every millisecond
    assert normalize(raw, None, received_at=0.0)["timestamp"][:19] == timestamp[:19]
