"""Recorded events (a file replayed): the fast path for the common shape and the general path agree.

`normalize(..., live=False)` checks the common shape of a recorded event with `_normalize_recorded` and
leaves everything else to the general path. One table runs against both: for every case the general path
gives the expected outcome, and the fast path gives the same event or declines (returns None); for the
common shapes it must not decline. A preview over a generated mix of good and bad events is the same line
for line with the fast path on and off.
"""

from __future__ import annotations

import copy
import random
import time
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from gleap_actions import events
from gleap_actions.cli import cli
from gleap_actions.events import EventError, format_time, parse_time

NOW = parse_time("2026-01-01T00:00:00Z", "now")
TS = "2024-03-02T08:15:00.110Z"
TRACK = {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1", "timestamp": TS}

# (raw event, the fast path takes it, expected: the keys the result has beyond `raw` or an error code)
CASES: list[tuple[dict[str, Any], bool, dict[str, Any] | str]] = [
    (TRACK, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "type": "page", "name": "Home"}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "type": "screen", "name": None}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "type": "identify", "event": 42}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "type": "identify", "name": 3}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "userId": None, "anonymousId": "a1"}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "userId": "", "anonymousId": "a1"}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "anonymousId": {"not": "read"}}, True, {"receivedAt": format_time(NOW)}),
    (
        {**TRACK, "context": {}, "integrations": None, "properties": {"a": 1}},
        True,
        {"receivedAt": format_time(NOW)},
    ),
    (
        {**TRACK, "receivedAt": "2024-03-02T08:15:01.000Z", "sentAt": "2024-03-02T08:15:00+00:00"},
        True,
        {},
    ),
    (
        {**TRACK, "originalTimestamp": TS, "timestamp": None},
        True,
        {"receivedAt": format_time(NOW), "timestamp": TS},
    ),
    ({**TRACK, "timestamp": None}, True, {"receivedAt": format_time(NOW), "timestamp": format_time(NOW)}),
    ({**TRACK, "receivedAt": TS, "timestamp": None}, True, {"timestamp": TS}),
    ({**TRACK, "timestamp": "2024-03-02"}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "timestamp": "0001-01-01T00:00:00.000Z"}, True, {"receivedAt": format_time(NOW)}),
    # Dates outside UTC and in year 9999 take the range check (inside the fast path).
    ({**TRACK, "timestamp": "2024-03-02T10:15:00+02:00"}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "timestamp": "9999-12-31T23:59:59.999Z"}, True, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "messageId": "m" * 100}, True, {"receivedAt": format_time(NOW)}),
    # Shapes only the general path reads (numbers as ids and names, writeKey, group and alias).
    ({**TRACK, "userId": 42}, False, {"receivedAt": format_time(NOW), "userId": "42"}),
    (
        {**TRACK, "userId": None, "anonymousId": 7},
        False,
        {"receivedAt": format_time(NOW), "anonymousId": "7"},
    ),
    ({**TRACK, "event": 10.0}, False, {"receivedAt": format_time(NOW), "event": "10"}),
    ({**TRACK, "writeKey": "secret"}, False, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "type": "group", "groupId": "g1"}, False, {"receivedAt": format_time(NOW)}),
    ({**TRACK, "type": "alias", "previousId": "p1"}, False, {"receivedAt": format_time(NOW)}),
    # Refusals: always worded by the general path.
    ({**TRACK, "type": "Track"}, False, "invalid_type"),
    ({**TRACK, "type": ["track"]}, False, "invalid_type"),
    ({**TRACK, "context": []}, False, "invalid_field"),
    ({**TRACK, "traits": "x"}, False, "invalid_field"),
    ({**TRACK, "userId": None}, False, "missing_identity"),
    ({**TRACK, "userId": "", "anonymousId": ""}, False, "missing_identity"),
    ({**TRACK, "userId": ["u"]}, False, "invalid_field"),
    ({**TRACK, "event": ""}, False, "missing_event"),
    ({**TRACK, "event": None}, False, "missing_event"),
    ({**TRACK, "type": "page", "name": 3}, False, "invalid_field"),
    ({**TRACK, "userId": "u\x00"}, False, "invalid_field"),
    ({**TRACK, "anonymousId": "a\x00"}, False, "invalid_field"),
    ({**TRACK, "groupId": "g\x00"}, False, "invalid_field"),
    ({**TRACK, "previousId": "p\x00"}, False, "invalid_field"),
    ({**TRACK, "type": "identify", "name": "n\x00"}, False, "invalid_field"),
    ({**TRACK, "messageId": 5}, False, "invalid_field"),
    ({**TRACK, "messageId": "m" * 101}, False, "invalid_field"),
    ({**TRACK, "receivedAt": "yesterday"}, False, "invalid_timestamp"),
    ({**TRACK, "receivedAt": 1714564800}, False, "invalid_timestamp"),
    ({**TRACK, "sentAt": ""}, False, "invalid_timestamp"),
    ({**TRACK, "originalTimestamp": "2024-02-30T00:00:00.000Z"}, False, "invalid_timestamp"),
    ({**TRACK, "timestamp": "9999-12-31T23:59:59.9995Z"}, False, "invalid_timestamp"),
    ({**TRACK, "timestamp": "0001-01-01T00:30:00+01:00"}, False, "invalid_timestamp"),
]


def _general(raw: dict[str, Any]) -> dict[str, Any] | EventError:
    try:
        return events._normalize(raw, None, NOW, None, False)
    except EventError as error:
        return error


@pytest.mark.parametrize(("raw", "fast", "expected"), CASES)
def test_both_paths_give_the_same_event_or_the_general_path_decides(
    raw: dict[str, Any], fast: bool, expected: dict[str, Any] | str
) -> None:
    before = copy.deepcopy(raw)
    general = _general(raw)
    quick = events._normalize_recorded(raw, NOW)
    assert raw == before  # neither path changes its input
    if isinstance(expected, str):
        assert isinstance(general, EventError) and general.code == expected
    else:
        assert general == {k: v for k, v in {**raw, **expected}.items() if k != "writeKey"}
    assert (quick is not None) is fast
    if quick is not None:
        assert quick == general
    # Both entry points, `normalize_recorded` with its defaults (not owned, NULs looked for).
    entry_points = (
        lambda: events.normalize(raw, None, received_at=NOW, live=False),
        lambda: events.normalize_recorded(raw, NOW),
    )
    for entry_point in entry_points:
        if isinstance(general, EventError):  # refused as the general path does
            with pytest.raises(EventError) as caught:
                entry_point()
            assert (caught.value.code, caught.value.message) == (general.code, general.message)
        else:
            event = entry_point()
            assert event == general and event is not raw
        assert raw == before


@pytest.mark.parametrize(("raw", "fast", "expected"), CASES)
def test_a_line_free_of_nul_gives_the_same_event(raw: dict[str, Any], fast: bool, expected: Any) -> None:
    """`nul_free` (the line has no `\\u0000` escape) only spares the look for NUL characters."""
    text = orjson.dumps(raw)
    has_nul = any(isinstance(value, str) and "\x00" in value for value in raw.values())
    assert events.free_of_nul(text) is events.free_of_nul(text.decode()) is not has_nul
    if not has_nul:
        assert events._normalize_recorded(raw, NOW, True) == events._normalize_recorded(raw, NOW)


@pytest.mark.parametrize(("raw", "fast", "expected"), CASES)
def test_an_owned_event_is_completed_in_place_or_left_as_it_was(
    raw: dict[str, Any], fast: bool, expected: Any
) -> None:
    """`owned`: the same event, made of `raw` itself; a declined `raw` is left exactly as it was."""
    owned = copy.deepcopy(raw)
    quick = events._normalize_recorded(owned, NOW, False, True)
    assert quick == events._normalize_recorded(raw, NOW)
    if quick is None:
        assert owned == raw and list(owned) == list(raw)
    else:
        general = _general(raw)
        assert quick is owned and isinstance(general, dict)
        assert list(quick) == list(general)  # keys in the general path's order
        owned_again = copy.deepcopy(raw)  # and through the entry point, which passes `owned` on
        assert events.normalize_recorded(owned_again, NOW, owned=True) is owned_again


def test_free_of_nul_is_sure_or_says_no() -> None:
    assert events.free_of_nul(b'{"a":"x"}') and events.free_of_nul('{"a":"\\u0001"}')
    assert not events.free_of_nul(orjson.dumps({"p": {"deep": "x\x00"}}))
    assert not events.free_of_nul('{"a":"\\\\u0000"}')  # a backslash, then "u0000": no NUL, but unsure
    # The look starts at the first backslash, not the last.
    assert not events.free_of_nul(orjson.dumps({"userId": "u\x00", "event": "line\nbreak"}))


@pytest.mark.parametrize("message_id", ["absent", None, ""])
def test_a_generated_message_id_on_both_paths(message_id: str | None) -> None:
    """A missing, null or empty messageId is replaced by a new UUID."""
    raw = {k: v for k, v in TRACK.items() if k != "messageId"}
    if message_id != "absent":
        raw["messageId"] = message_id
    general, quick = _general(raw), events._normalize_recorded(raw, NOW)
    assert isinstance(general, dict) and quick is not None
    assert len(general["messageId"]) == len(quick["messageId"]) == 36
    assert general["messageId"] != quick["messageId"]


def _mixed_events(count: int) -> list[bytes]:
    """Good events and events broken in one or two places (types, ids, names, objects, dates, NULs)."""
    rng = random.Random(11)
    values: dict[str, list[Any]] = {
        "type": ["track", "identify", "page", "screen", "group", "alias", "batch", None, 3],
        "userId": ["u1", "", None, 42, 4.5, True, ["u"], "u\x00"],
        "anonymousId": ["a1", "", None, 7, {"a": 1}, "a\x00"],
        "event": ["Order Completed", "", None, 42, 10.0, [1], "e\x00"],
        "name": ["Home", None, 3, "n\x00"],
        "messageId": ["m1", "", None, 5, "m" * 101],
        "properties": [{"revenue": 10.0, "n": None}, None, [], "x"],
        "integrations": [{}, None, {"All": False}, {"Gleap (Action)": False}, "x"],
        "traits": [{"email": "a@example.com", "plan": "pro"}, None, 3],
        "timestamp": [
            TS,
            "2024-03-02T08:15:00Z",
            "2024-03-02T10:15:00+02:00",
            "2024-02-30",
            "nope",
            17,
            None,
        ],
        "receivedAt": [TS, "9999-12-31T23:59:59.9995Z", "", None],
        "sentAt": [TS, "0001-01-01T00:30:00+01:00", None],
        "originalTimestamp": [TS, "2024-13-02T00:00:00.000Z", None],
        "groupId": ["g1", None, "g\x00"],
        "writeKey": ["secret"],
    }
    lines = []
    for index in range(count):
        event: dict[str, Any] = {
            "type": rng.choice(["track", "identify", "page", "screen"]),
            "userId": f"user-{index}",
            "event": "Order Completed",
            "name": "Home",
            "messageId": f"m-{index}",
            "timestamp": TS,
            "traits": {"email": f"u{index}@example.com"},
            "properties": {"revenue": index / 4},
            "context": {"page": {"url": "https://example.com/"}},
        }
        for _ in range(rng.choice([0, 0, 1, 2])):
            key = rng.choice(list(values))
            event[key] = rng.choice(values[key])
        lines.append(orjson.dumps(event))
    return lines


def test_preview_is_the_same_with_and_without_the_fast_path(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(_mixed_events(3000)) + b"\n")
    monkeypatch.setattr(time, "time", lambda: NOW)  # events without dates get the time of reading
    outputs = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(
                events, "_normalize_recorded", lambda raw, read_at, nul_free=False, owned=False: None
            )
        for batch in ([], ["--batch"]):
            result = CliRunner().invoke(cli, ["preview", str(path), *batch], env={"GLEAP_ACTIONS_CONFIG": ""})
            assert result.exit_code == 0, result.output
            outputs.append(result.stdout_bytes)
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3]
    assert b'"error"' in outputs[0] and b'"body"' in outputs[0]  # both kinds of line are there
