"""Events read from a file (a Segment export) keep their dates; live calls are skew-corrected."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from gleap_actions.cli import cli
from gleap_actions.events import EventError, normalize, parse_time

EXPORT = Path(__file__).parent / "data" / "segment-export-2024.jsonl"
NOW = parse_time("2026-01-01T00:00:00Z", "now")


def _export() -> list[dict[str, object]]:
    return [orjson.loads(line) for line in EXPORT.read_bytes().splitlines()]


def test_recorded_events_keep_timestamp_and_received_at() -> None:
    for raw in _export():
        event = normalize(raw, None, received_at=NOW, live=False)
        assert event["receivedAt"] == raw["receivedAt"]
        assert event["timestamp"] == raw.get("timestamp", raw["receivedAt"])


def test_recorded_event_without_any_dates_gets_the_time_of_reading() -> None:
    event = normalize({"type": "track", "userId": "u", "event": "e"}, None, received_at=NOW, live=False)
    assert event["timestamp"] == event["receivedAt"] == "2026-01-01T00:00:00.000Z"


def test_recorded_event_with_a_bad_date_is_rejected() -> None:
    raw = {"type": "track", "userId": "u", "event": "e", "receivedAt": "yesterday"}
    with pytest.raises(EventError, match="receivedAt"):
        normalize(raw, None, received_at=NOW, live=False)


def test_live_calls_are_still_skew_corrected() -> None:
    raw = _export()[0]
    event = normalize(raw, None, received_at=NOW)
    assert event["receivedAt"] == "2026-01-01T00:00:00.000Z"
    assert event["timestamp"] == "2025-12-31T23:59:59.822Z"  # now - (sentAt - originalTimestamp)


@pytest.mark.parametrize(("name", "text"), [(42, "42"), (1.5, "1.5"), (10.0, "10"), (1e21, "1e+21")])
def test_numeric_event_names_become_their_javascript_string(name: float, text: str) -> None:
    event = normalize({"userId": "u", "event": name}, "track", received_at=NOW)
    assert event["event"] == text


@pytest.mark.parametrize("name", [{"a": 1}, [1], "", True, None])
def test_other_event_names_are_still_rejected(name: object) -> None:
    with pytest.raises(EventError, match="event name"):
        normalize({"userId": "u", "event": name}, "track", received_at=NOW)


def test_preview_of_a_segment_export_sends_the_original_dates() -> None:
    result = CliRunner().invoke(cli, ["preview", str(EXPORT)], env={"GLEAP_ACTIONS_CONFIG": ""})
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.output.splitlines()]
    bodies = {line["event_index"]: line["body"] for line in lines}
    exported = _export()
    assert bodies[0]["events"][0]["date"] == exported[0]["timestamp"]
    assert bodies[1]["events"][0]["date"] == exported[1]["timestamp"]
    assert bodies[2]["lastActivity"] == exported[2]["timestamp"]
    assert bodies[3]["events"][0] == {
        "name": "42",
        "date": "2024-03-02T08:15:00.110Z",
        "data": {"source": "cron"},
        "userId": "user-0043",
    }
    assert bodies[4]["events"][0]["date"] == "2024-03-02T08:20:00.000Z"  # no timestamp: its receivedAt


@pytest.mark.parametrize("field", ["receivedAt", "sentAt", "originalTimestamp", "timestamp"])
def test_a_bad_date_of_a_recorded_event_is_refused_naming_it(field: str) -> None:
    raw = {"type": "track", "event": "E", "userId": "u", field: "nope"}
    with pytest.raises(EventError, match=rf"^{field} is not an ISO 8601 date: 'nope'$"):
        normalize(raw, None, received_at=0.0, live=False)


def test_a_recorded_event_with_only_its_original_timestamp_keeps_it_as_timestamp() -> None:
    raw = {"type": "track", "event": "E", "userId": "u", "originalTimestamp": "2024-01-02T03:04:05.000Z"}
    event = normalize(raw, None, received_at=0.0, live=False)
    assert event["timestamp"] == event["originalTimestamp"] == "2024-01-02T03:04:05.000Z"
    assert event["receivedAt"] == "1970-01-01T00:00:00.000Z"  # the time of reading
