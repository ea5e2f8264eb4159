"""`gleap-actions preview`: the exact lines for each kind of event, single and batched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from gleap_actions import __version__
from gleap_actions.cli import cli

TS = "2024-01-02T03:04:05.000Z"
HEADERS = {
    "Api-Token": "***",
    "User-Agent": f"gleap-actions/{__version__}",
    "Content-Type": "application/json",
}
TRACK_URL = "https://api.gleap.io/admin/track"
IDENTIFY_URL = "https://api.gleap.io/admin/identify"

TRACK = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u1",
    "properties": {"total": 120, "currency": "EUR"},
    "timestamp": TS,
}
PAGE = {
    "type": "page",
    "name": "Home",
    "userId": "u1",
    "context": {"page": {"url": "https://example.com/"}},
    "timestamp": "2024-01-02T03:04:05Z",
}
SCREEN = {"type": "screen", "name": "Settings", "userId": "u2", "timestamp": TS}
IDENTIFY = {
    "type": "identify",
    "userId": "u1",
    "traits": {"email": "a@example.com", "plan": "pro", "age": 42},
    "context": {"locale": "de-DE"},
    "timestamp": TS,
}
ANONYMOUS_TRACK = {"type": "track", "event": "Clicked", "anonymousId": "a1", "timestamp": TS}
FILTERED = {**TRACK, "integrations": {"All": True, "Gleap (Action)": False}}
GROUP = {"type": "group", "groupId": "g1", "userId": "u1", "timestamp": TS}

TRACK_BODY = {
    "name": "Order Completed",
    "date": TS,
    "data": {"total": 120, "currency": "EUR"},
    "userId": "u1",
}
PAGE_BODY = {"name": "pageView", "date": TS, "data": {"page": "https://example.com/"}, "userId": "u1"}
SCREEN_BODY = {"name": "pageView", "date": TS, "data": {"page": "Settings"}, "userId": "u2"}
IDENTIFY_BODY = {
    "userId": "u1",
    "email": "a@example.com",
    "lang": "de-DE",
    "plan": "pro",
    "lastActivity": TS,
    "age": 42,
}


def jsonl(*events: Any) -> str:
    return "".join((e if isinstance(e, str) else orjson.dumps(e).decode()) + "\n" for e in events)


def preview(stdin: str, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["preview", "-", *args], input=stdin, env={"GLEAP_ACTIONS_CONFIG": "", **(env or {})}
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("\n")
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def request(index: int, mapping: str, action: str, url: str, body: Any) -> dict[str, Any]:
    return {
        "event_index": index,
        "mapping": mapping,
        "action": action,
        "method": "POST",
        "url": url,
        "headers": HEADERS,
        "body": body,
    }


def test_one_request_per_event_for_track_page_screen_and_identify() -> None:
    lines = preview(jsonl(TRACK, PAGE, SCREEN, IDENTIFY), env={"GLEAP_API_TOKEN": "very-secret"})
    assert lines == [
        request(0, "Track Event", "trackEvent", TRACK_URL, {"events": [TRACK_BODY]}),
        request(1, "Track Event", "trackEvent", TRACK_URL, {"events": [PAGE_BODY]}),
        request(2, "Track Event", "trackEvent", TRACK_URL, {"events": [SCREEN_BODY]}),
        request(3, "Identify Contact", "identifyContact", IDENTIFY_URL, IDENTIFY_BODY),
    ]


def test_rejections_filtered_unmatched_and_bad_lines_each_get_a_line_and_nothing_else_is_lost() -> None:
    stdin = jsonl(
        TRACK, ANONYMOUS_TRACK, FILTERED, "{not json", GROUP, "", "[1, 2]", {"type": "track"}, SCREEN
    )
    lines = preview(stdin)
    invalid_json = lines[3]
    assert invalid_json.pop("error").startswith("invalid JSON: ")
    assert lines == [
        request(0, "Track Event", "trackEvent", TRACK_URL, {"events": [TRACK_BODY]}),
        {
            "event_index": 1,
            "mapping": "Track Event",
            "action": "trackEvent",
            "error": "The root value is missing the required field 'userId'.",
            "status": 400,
        },
        {
            "event_index": 2,
            "filtered": True,
            "reason": "the event's integrations object disables this destination",
        },
        {"event_index": 3, "line": 4, "status": 400},
        {"event_index": 4, "unmatched": True, "reason": "no enabled mapping's trigger matches the event"},
        # The blank line 6 is skipped and takes no event_index.
        {"event_index": 5, "line": 7, "error": "an event must be a JSON object", "status": 400},
        {
            "event_index": 6,
            "line": 8,
            "error": "track calls need a userId or an anonymousId",
            "status": 400,
        },
        request(7, "Track Event", "trackEvent", TRACK_URL, {"events": [SCREEN_BODY]}),
    ]


def test_batch_groups_events_per_mapping_in_event_order() -> None:
    stdin = jsonl(TRACK, IDENTIFY, ANONYMOUS_TRACK, PAGE, SCREEN, {**IDENTIFY, "userId": "u9"})
    lines = preview(stdin, "--batch")
    track_batch = request(
        0, "Track Event", "trackEvent", TRACK_URL, {"events": [TRACK_BODY, PAGE_BODY, SCREEN_BODY]}
    )
    del track_batch["event_index"]
    identify_second = request(
        5, "Identify Contact", "identifyContact", IDENTIFY_URL, {**IDENTIFY_BODY, "userId": "u9"}
    )
    del identify_second["event_index"]
    identify_first = request(1, "Identify Contact", "identifyContact", IDENTIFY_URL, IDENTIFY_BODY)
    del identify_first["event_index"]
    assert lines == [
        {"event_indices": [0, 3, 4], **track_batch},
        {"event_indices": [1], **identify_first},
        {
            "event_index": 2,
            "mapping": "Track Event",
            "action": "trackEvent",
            "error": "The root value is missing the required field 'userId'.",
            "status": 400,
        },
        {"event_indices": [5], **identify_second},
    ]


def test_batches_are_split_by_the_configured_size(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "mappings:\n"
        "  - {name: T, action: trackEvent, batching: {size: 2}}\n"
        "  - {name: U, action: trackEvent, batching: false}\n"
    )
    events = jsonl(*[{**TRACK, "userId": f"u{i}"} for i in range(5)])
    lines = preview(events, "--batch", "--config", str(config))
    # U does not batch: with --batch it still sends one request per event, as delivery would.
    assert [(line["mapping"], line["event_indices"]) for line in lines] == [
        ("T", [0, 1]),
        ("U", [0]),
        ("U", [1]),
        ("T", [2, 3]),
        ("U", [2]),
        ("U", [3]),
        ("T", [4]),
        ("U", [4]),
    ]
    assert [len(line["body"]["events"]) for line in lines] == [2, 1, 1, 2, 1, 1, 1, 1]


def test_a_configured_mapping_base_url_and_token(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        """
gleap: {api_token: file-secret-token, base_url: "http://127.0.0.1:9/"}
mappings:
  - name: Purchases
    action: trackEvent
    trigger: event = "Order Completed"
    mapping:
      eventName: {"@template": "purchase-{{properties.currency}}"}
      type: {"@path": "$.type"}
      date: {"@path": "$.timestamp"}
      userId: {"@path": "$.userId"}
"""
    )
    result = CliRunner().invoke(cli, ["preview", "-", "--config", str(config)], input=jsonl(TRACK, PAGE))
    assert result.exit_code == 0, result.stderr
    assert "file-secret-token" not in result.stdout + result.stderr
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == [
        {
            **request(0, "Purchases", "trackEvent", "http://127.0.0.1:9/admin/track", None),
            "body": {"events": [{"name": "purchase-EUR", "date": TS, "userId": "u1"}]},
        },
        {"event_index": 1, "unmatched": True, "reason": "no enabled mapping's trigger matches the event"},
    ]


def test_the_body_is_written_exactly_as_it_would_be_sent() -> None:
    event = {**TRACK, "properties": {"ratio": 1.0, "big": 1e21, "text": "naïve ✓"}}
    result = CliRunner().invoke(cli, ["preview", "-"], input=jsonl(event), env={"GLEAP_ACTIONS_CONFIG": ""})
    assert result.stdout_bytes.endswith(
        b',"body":{"events":[{"name":"Order Completed","date":"2024-01-02T03:04:05.000Z",'
        b'"data":{"ratio":1,"big":1e+21,"text":"na\xc3\xafve \xe2\x9c\x93"},"userId":"u1"}]}}\n'
    )


def test_a_file_as_a_real_process(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(jsonl(TRACK, IDENTIFY))
    env = {**os.environ, "GLEAP_API_TOKEN": "process-secret", "GLEAP_ACTIONS_CONFIG": ""}
    done = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "preview", str(events)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"process-secret" not in done.stdout + done.stderr
    assert [orjson.loads(line) for line in done.stdout.splitlines()] == [
        request(0, "Track Event", "trackEvent", TRACK_URL, {"events": [TRACK_BODY]}),
        request(1, "Identify Contact", "identifyContact", IDENTIFY_URL, IDENTIFY_BODY),
    ]


def test_an_invalid_config_stops_the_preview(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("mappings:\n  - {name: T, action: trackEvent, trigger: 'type ='}\n")
    result = CliRunner().invoke(cli, ["preview", "-", "--config", str(config)], input=jsonl(TRACK))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Invalid configuration (1 problem(s)):\n  mappings[0].trigger: ")


def test_the_deepest_storable_event_passes_and_one_level_more_is_rejected() -> None:
    # Lines with few brackets skip the trial encoding (events.within_depth): the limit must hold both ways.
    def nested(levels: int) -> str:
        # the event is level 1, its properties level 2, and so on
        inner = '{"a":' * (levels - 1) + "1" + "}" * (levels - 1)
        return '{"type":"track","userId":"u","event":"Deep","properties":' + inner + "}"

    brackets_in_strings = {**TRACK, "properties": {"text": "{[" * 200}}
    lines = preview(jsonl(nested(254), nested(255), brackets_in_strings))
    assert [line.get("status") for line in lines] == [None, 400, None]
    assert lines[1]["error"] == "the event is nested more than 254 levels deep"
    assert lines[2]["body"]["events"][0]["data"] == {"text": "{[" * 200}
