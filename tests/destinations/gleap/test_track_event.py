"""trackEvent: exact /admin/track bodies for track, page, screen and batches, and every rejection."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gleap_actions.destinations.gleap import actions
from gleap_actions.destinations.gleap.actions import TRACK_EVENT
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import PayloadValidationError

SETTINGS = GleapSettings(api_token="tok", base_url="https://api.gleap.io")
WHEN = "2024-01-02T03:04:05.000Z"


def _payload(**overrides: Any) -> dict[str, Any]:
    """What the default mapping resolves for a track event (see the trackEvent field defaults)."""
    payload = {
        "eventName": "Segment Test Event Name 3",
        "type": "track",
        "pageUrl": "https://segment.com/academy/",
        "date": WHEN,
        "userId": "user1234",
        "data": {"a": 1, "b": "x"},
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not _ABSENT}


_ABSENT: Any = object()


def _body(**overrides: Any) -> bytes:
    request = TRACK_EVENT.perform(SETTINGS, TRACK_EVENT.validate(_payload(**overrides)))
    assert request.method == "POST"
    assert request.url == "https://api.gleap.io/admin/track"
    assert request.body is not None
    return request.body


def _rejection(**overrides: Any) -> str:
    with pytest.raises(PayloadValidationError) as caught:
        TRACK_EVENT.validate(_payload(**overrides))
    return str(caught.value)


def test_track() -> None:
    assert _body() == (
        b'{"events":[{"name":"Segment Test Event Name 3","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"a":1,"b":"x"},"userId":"user1234"}]}'
    )


def test_headers() -> None:
    request = TRACK_EVENT.perform(SETTINGS, TRACK_EVENT.validate(_payload()))
    assert list(request.headers) == ["Api-Token", "User-Agent", "Content-Type"]
    assert request.headers["Api-Token"] == "tok"
    assert request.headers["Content-Type"] == "application/json"
    assert request.redacted().headers["Api-Token"] == "***"
    assert "tok" not in repr(request)
    assert '"***"' in request.to_json()
    assert "tok" not in request.to_json()


def test_page_uses_the_url() -> None:
    assert _body(type="page", eventName="Home") == (
        b'{"events":[{"name":"pageView","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"page":"https://segment.com/academy/"},"userId":"user1234"}]}'
    )


def test_page_without_url_uses_the_name_and_without_either_sends_empty_data() -> None:
    assert b'"data":{"page":"Home"}' in _body(type="page", eventName="Home", pageUrl=_ABSENT)
    assert b'"data":{"page":"Home"}' in _body(type="page", eventName="Home", pageUrl="")
    assert _body(type="page", eventName=_ABSENT, pageUrl=_ABSENT) == (
        b'{"events":[{"name":"pageView","date":"2024-01-02T03:04:05.000Z","data":{},"userId":"user1234"}]}'
    )


@pytest.mark.parametrize("url", ["/relative/path", "https://example.de/suche?q=größe", "not a url"])
def test_page_url_is_sent_as_given(url: str) -> None:
    assert f'"data":{{"page":"{url}"}}'.encode() in _body(type="page", pageUrl=url)


def test_unusable_page_url_falls_back_to_the_name() -> None:
    assert b'"data":{"page":"Home"}' in _body(type="page", eventName="Home", pageUrl={"a": 1})


@pytest.mark.parametrize("url", ["/relative", "https://example.de/größe", {"not": "a string"}, ["a", "b"]])
@pytest.mark.parametrize("kind", ["track", "screen"])
def test_page_url_never_rejects_track_or_screen(kind: str, url: Any) -> None:
    body = _body(type=kind, pageUrl=url)
    assert b"relative" not in body
    assert "größe".encode() not in body


def test_screen_uses_its_name_even_with_a_url() -> None:
    assert _body(type="screen", eventName="Home Screen") == (
        b'{"events":[{"name":"pageView","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"page":"Home Screen"},"userId":"user1234"}]}'
    )
    assert b'"data":{}' in _body(type="screen", eventName=_ABSENT)


def test_names_are_sent_unchanged_and_unix_timestamps_become_iso() -> None:
    assert _body(eventName="A.b$c", date=1700000000) == (
        b'{"events":[{"name":"A.b$c","date":"2023-11-14T22:13:20.000Z","data":{"a":1,"b":"x"},"userId":"user1234"}]}'
    )


def test_empty_name_is_omitted() -> None:
    assert _body(eventName="") == (
        b'{"events":[{"date":"2024-01-02T03:04:05.000Z","data":{"a":1,"b":"x"},"userId":"user1234"}]}'
    )


@pytest.mark.parametrize("data", [_ABSENT, None])
def test_missing_or_null_properties_send_no_data(data: Any) -> None:
    assert b'"data"' not in _body(data=data)


def test_empty_and_nested_properties_are_kept_whole() -> None:
    assert b'"data":{}' in _body(data={})
    nested = {"n": None, "e": "", "f": False, "deep": {"x": [1.0, 2.5]}, "big": 12345678901234567890}
    assert b'"data":{"n":null,"e":"","f":false,"deep":{"x":[1,2.5]},"big":12345678901234567000}' in _body(
        data=nested
    )


@pytest.mark.parametrize(
    ("user_id", "sent"), [(12345, "12345"), (True, "true"), (1.5, "1.5"), (["a"], "a"), ("u", "u")]
)
def test_user_id_coercion(user_id: Any, sent: str) -> None:
    assert f'"userId":"{sent}"'.encode() in _body(userId=user_id)


def test_event_name_coercion() -> None:
    assert b'"name":"42"' in _body(eventName=42)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"userId": _ABSENT}, "The root value is missing the required field 'userId'."),
        ({"userId": None}, "The root value is missing the required field 'userId'."),
        ({"userId": ""}, "The root value is missing the required field 'userId'."),
        ({"userId": ["a", "b"]}, "User ID must be a string but it was an array."),
        ({"userId": {"id": 1}}, "User ID must be a string but it was an object."),
        ({"date": _ABSENT}, "The root value is missing the required field 'date'."),
        ({"date": ""}, "The root value is missing the required field 'date'."),
        ({"type": "identify"}, 'Event Type must be one of: "track", "page", or "screen".'),
        ({"type": "TRACK"}, 'Event Type must be one of: "track", "page", or "screen".'),
        ({"data": [1, 2, 3]}, "Event Metadata must be an object but it was an array."),
        (
            {"date": "abc 2024"},
            "Event Timestamp must be a valid date and time (ISO 8601, RFC 2822, or Unix seconds or "
            "milliseconds) but it was not (unrecognised date format).",
        ),
        (
            {"userId": _ABSENT, "date": _ABSENT},
            "The root value is missing the required field 'date'. "
            "The root value is missing the required field 'userId'.",
        ),
    ],
)
def test_rejections(overrides: dict[str, Any], message: str) -> None:
    assert _rejection(**overrides) == message


def test_batch_body_has_every_event_in_order() -> None:
    payloads = [
        TRACK_EVENT.validate(_payload(eventName="First")),
        TRACK_EVENT.validate(_payload(type="page", eventName="Home", pageUrl=_ABSENT, data=_ABSENT)),
        TRACK_EVENT.validate(_payload(type="screen", eventName="S", userId="u2", date=1717000000000)),
    ]
    assert TRACK_EVENT.perform_batch is not None
    request = TRACK_EVENT.perform_batch(SETTINGS, payloads)
    assert request.url == "https://api.gleap.io/admin/track"
    assert request.body == (
        b'{"events":['
        b'{"name":"First","date":"2024-01-02T03:04:05.000Z","data":{"a":1,"b":"x"},"userId":"user1234"},'
        b'{"name":"pageView","date":"2024-01-02T03:04:05.000Z","data":{"page":"Home"},"userId":"user1234"},'
        b'{"name":"pageView","date":"2024-05-29T16:26:40.000Z","data":{"page":"S"},"userId":"u2"}]}'
    )


def test_more_than_ten_metadata_keys_are_sent_counted_and_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = actions.MetadataLimitCounter()
    monkeypatch.setattr(actions, "metadata_over_limit", counter)
    with caplog.at_level(logging.WARNING, logger="gleap_actions.destinations.gleap.actions"):
        body = _body(data={f"k{i}": i for i in range(12)})
        _body(data={f"k{i}": i for i in range(13)})
        _body(data={f"k{i}": i for i in range(10)})
    assert b'"k11":11' in body
    assert counter.count == 2
    assert caplog.text.count("metadata_over_limit") == 1  # at most once a minute
    assert "keys=12 limit=10 total=1" in caplog.text


def test_default_mapping_and_trigger() -> None:
    assert TRACK_EVENT.default_trigger == 'type = "track" or type = "page" or type = "screen"'
    assert TRACK_EVENT.default_mapping == {
        "eventName": {
            "@if": {"exists": {"@path": "$.event"}, "then": {"@path": "$.event"}, "else": {"@path": "$.name"}}
        },
        "type": {"@path": "$.type"},
        "pageUrl": {"@path": "$.context.page.url"},
        "date": {"@path": "$.timestamp"},
        "userId": {"@path": "$.userId"},
        "data": {"@path": "$.properties"},
    }
